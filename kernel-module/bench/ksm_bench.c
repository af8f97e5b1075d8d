// SPDX-License-Identifier: GPL-2.0
/*
 * Selective KSM benchmark: synchronous partition merges against ksmd.
 *
 * P processes each map M MiB of anonymous memory and fill it. A fraction d
 * of the pages, spread evenly over the area, are duplicates: page i holds
 * the same contents in every process (derived from i, distinct for each
 * i). The other pages are unique to their process and page. Every phase
 * starts from freshly forked and filled processes:
 *
 *   floor          every page read once and hashed (xxh64-style lanes), one
 *                  process at a time: the least any merge must do
 *   selective, 1   the P processes merged into one partition, one write of
 *                  "<pid> <start> <end>" to its merge file per process; the
 *                  merge runs in this thread, so our CPU time is its cost
 *   selective, 4   the same P processes spread over 4 partitions
 *   ksmd default   MADV_MERGEABLE, ksmd at pages_to_scan 100 and
 *                  sleep_millisecs 20, until pages_sharing reaches what
 *                  the 1-partition merge saved (times -f) or -t seconds
 *   ksmd best      the same with the largest pages_to_scan the kernel
 *                  accepts and sleep_millisecs 0
 *
 * Prints a table and the ratios the project aims at on stdout, progress on
 * stderr. Runs as root with KSM idle (run 0, nothing merged), normally in
 * the VM (scripts/kernel-bench.sh). Children, partitions and ksmd's
 * settings are cleaned up on every exit path, signals included. Exits 0
 * when the run completed (missed targets are reported, not failures), 1 on
 * any error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/ksm.h>

#define PAGE		4096UL
#define WORDS		(PAGE / sizeof(uint64_t))
#define CONTROL		KSM_SYSFS_DIR "/control"
#define PARTITIONS	KSM_SYSFS_DIR "/partition"
#define MAX_PARTS	4
#define MAX_PROCS	1024
#define MAX_MIB		(1L << 20)
#define POLL_US		50000
#define PROGRESS_S	10.0
#define UNMERGE_WAIT_S	600.0
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ksmd's defaults, and what we try as its largest pages_to_scan */
#define DEFAULT_SCAN	"100"
#define DEFAULT_SLEEP	"20"
static const char * const max_scan_tries[] = {
	"4294967295", "1000000", "100000", "10000",
};

static struct {
	int procs;
	long mib;
	double dup;
	double timeout;
	double frac;
} opt = { 8, 64, 0.75, 600.0, 1.0 };

static size_t npages;		/* per process */
static size_t ndup;		/* duplicate pages per process */
static double t_start;

struct child {
	pid_t pid;
	int req, rsp;		/* pipes: requests to it, replies from it */
	unsigned long addr;	/* its area, npages * PAGE bytes */
};

enum { REQ_HASH = 1, REQ_MERGEABLE };

struct reply {
	int err;
	uint64_t addr;
	uint64_t hash;
	uint64_t cpu_ns;
};

/* What cleanup() must undo; also read from the signal handler */
static struct child children[MAX_PROCS];
static volatile sig_atomic_t nchildren;
static char parts[MAX_PARTS][KSM_PARTITION_NAME_MAX + 1];
static volatile sig_atomic_t nparts;
static char saved_run[32], saved_scan[32], saved_sleep[32];
static volatile sig_atomic_t ksmd_touched;
static volatile sig_atomic_t in_cleanup;
static volatile sig_atomic_t got_signal;
static bool cleanup_failed;

struct result {
	char name[40];
	double wall, cpu, sys;
	long long saved;	/* -1: not applicable */
	long long expected;
	bool ksmd, reached;
	char scan[32];
};

/* ------------------------------------------------------------------ */
/* Messages                                                             */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *errstr(int err)
{
	static char buf[128];
	const char *name = strerrorname_np(err);

	snprintf(buf, sizeof(buf), "%s (%s)", name ? name : "?",
		 strerror(err));
	return buf;
}

static void __attribute__((format(printf, 1, 2))) progress(const char *fmt,
							   ...)
{
	va_list ap;

	fprintf(stderr, "[ksm_bench +%.1fs] ", now() - t_start);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void cleanup(bool quiet);

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "ksm_bench: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup(false);
	exit(1);
}

/* ------------------------------------------------------------------ */
/* sysfs and /proc                                                      */

/* Write @val to @path; 0 or a negative errno. Async-signal-safe. */
static int sysfs_write(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

static void sysfs_write_or_die(const char *path, const char *val)
{
	int err = sysfs_write(path, val);

	if (err)
		die("write \"%.*s\" to %s: %s", (int)strcspn(val, "\n"), val,
		    path, errstr(-err));
}

/* Read @path into @buf, without its trailing newline; 0 or -errno */
static int sysfs_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void sysfs_read_or_die(const char *path, char *buf, size_t size)
{
	int err = sysfs_read(path, buf, size);

	if (err)
		die("read %s: %s", path, errstr(-err));
}

static unsigned long long sysfs_ull(const char *path)
{
	unsigned long long v;
	char buf[64], *end;

	sysfs_read_or_die(path, buf, sizeof(buf));
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || *end)
		die("read %s: not a number: \"%s\"", path, buf);
	return v;
}

static unsigned long long ksm_ull(const char *file)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYSFS_DIR "/%s", file);
	return sysfs_ull(path);
}

static void ksm_write(const char *file, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYSFS_DIR "/%s", file);
	sysfs_write_or_die(path, val);
}

/* A counter of our partition number @i */
static unsigned long long part_ull(int i, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), PARTITIONS "/%.63s/%s", parts[i], file);
	return sysfs_ull(path);
}

/* The ksmd kthread, found by its comm */
static pid_t find_ksmd(void)
{
	struct dirent *de;
	char path[300], comm[32];
	pid_t pid = 0;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		die("opendir /proc: %s", errstr(errno));
	while ((de = readdir(dir))) {
		if (de->d_name[strspn(de->d_name, "0123456789")] ||
		    !de->d_name[0])
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		if (!sysfs_read(path, comm, sizeof(comm)) &&
		    !strcmp(comm, "ksmd")) {
			pid = atoi(de->d_name);
			break;
		}
	}
	closedir(dir);
	if (!pid)
		die("no ksmd kthread in /proc/*/comm (CONFIG_KSM off?)");
	return pid;
}

/* utime + stime of @pid, in seconds */
static double proc_cpu(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	sysfs_read_or_die(path, buf, sizeof(buf));
	p = strrchr(buf, ')');
	/* after the comm: fields 3 (state) to 13, then utime and stime */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
			 " %llu %llu", &ut, &st) != 2)
		die("parse %s: \"%s\"", path, buf);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static void self_cpu(double *cpu, double *sys)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage: %s", errstr(errno));
	*sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	*cpu = *sys + ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* Page contents and the floor's hash                                   */

static inline uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ndup of the npages pages are duplicates, spread evenly */
static bool is_dup(size_t i)
{
	return (uint64_t)(i + 1) * ndup / npages > (uint64_t)i * ndup / npages;
}

/*
 * Duplicate page i: key i + 1, the same in every process. Unique page i of
 * process idx: (idx + 1) << 32 | i, never a duplicate's key (i < 2^32).
 * mix64 is a bijection, so different keys give different pages.
 */
static void fill_page(uint64_t *w, int idx, size_t i)
{
	uint64_t key = is_dup(i) ? i + 1 : (uint64_t)(idx + 1) << 32 | i;
	size_t j;

	for (j = 0; j < WORDS; j++)
		w[j] = mix64(key << 9 | j);
}

#define XXP1	0x9e3779b185ebca87ULL
#define XXP2	0xc2b2ae3d27d4eb4fULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t xxround(uint64_t acc, uint64_t v)
{
	return rotl64(acc + v * XXP2, 31) * XXP1;
}

/* xxh64's four lanes over one page, the way ksmd checksums a page */
static uint64_t hash_page(const uint64_t *w)
{
	uint64_t a = XXP1 + XXP2, b = XXP2, c = 0, d = -XXP1;
	size_t j;

	for (j = 0; j < WORDS; j += 4) {
		a = xxround(a, w[j]);
		b = xxround(b, w[j + 1]);
		c = xxround(c, w[j + 2]);
		d = xxround(d, w[j + 3]);
	}
	return rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
}

/* ------------------------------------------------------------------ */
/* Children                                                             */

static void child_reply(int fd, const struct reply *r)
{
	if (write(fd, r, sizeof(*r)) != sizeof(*r))
		_exit(1);
}

static void __attribute__((noreturn)) child_main(int idx, int req, int rsp)
{
	struct reply r = { 0 };
	struct timespec a, b;
	uint64_t *mem, h;
	size_t i;
	int op;

	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		r.err = errno;
		child_reply(rsp, &r);
		_exit(1);
	}
	for (i = 0; i < npages; i++)
		fill_page(mem + i * WORDS, idx, i);
	r.addr = (uintptr_t)mem;
	child_reply(rsp, &r);

	while (read(req, &op, sizeof(op)) == sizeof(op)) {
		memset(&r, 0, sizeof(r));
		switch (op) {
		case REQ_HASH:
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
			for (i = 0; i < npages; i++) {
				h = hash_page(mem + i * WORDS);
				r.hash = rotl64(r.hash ^ h, 27) * XXP1;
			}
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
			r.cpu_ns = (b.tv_sec - a.tv_sec) * 1000000000ULL +
				   b.tv_nsec - a.tv_nsec;
			break;
		case REQ_MERGEABLE:
			if (madvise(mem, npages * PAGE, MADV_MERGEABLE))
				r.err = errno;
			break;
		default:
			r.err = EINVAL;
		}
		child_reply(rsp, &r);
	}
	_exit(0);
}

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* Fork and fill @n children; returns once all areas are filled */
static void start_children(int n)
{
	pid_t parent = getpid();
	struct reply r;
	double t0 = now();
	int i, j;

	progress("starting %d processes, filling %ld MiB each", n, opt.mib);
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < n; i++) {
		int req[2], rsp[2];
		pid_t pid;

		if (pipe2(req, O_CLOEXEC))
			die("pipe: %s", errstr(errno));
		if (pipe2(rsp, O_CLOEXEC)) {
			close(req[0]);
			close(req[1]);
			die("pipe: %s", errstr(errno));
		}
		pid = fork();
		if (pid < 0)
			die("fork: %s", errstr(errno));
		if (!pid) {
			for (j = 0; j < (int)ARRAY_SIZE(handled_signals); j++)
				signal(handled_signals[j], SIG_DFL);
			signal(SIGPIPE, SIG_DFL);
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) ||
			    getppid() != parent)
				_exit(1);
			for (j = 0; j < i; j++) {
				close(children[j].req);
				close(children[j].rsp);
			}
			close(req[1]);
			close(rsp[0]);
			child_main(i, req[0], rsp[1]);
		}
		close(req[0]);
		close(rsp[1]);
		children[i].pid = pid;
		children[i].req = req[1];
		children[i].rsp = rsp[0];
		children[i].addr = 0;
		nchildren = i + 1;
	}
	for (i = 0; i < n; i++) {
		if (read(children[i].rsp, &r, sizeof(r)) != sizeof(r))
			die("child %d (pid %d) died while filling its area",
			    i, children[i].pid);
		if (r.err)
			die("child %d (pid %d): mmap of %ld MiB: %s", i,
			    children[i].pid, opt.mib, errstr(r.err));
		children[i].addr = r.addr;
	}
	progress("filled in %.1f s", now() - t0);
}

static struct reply child_request(int i, int op)
{
	struct reply r;

	if (write(children[i].req, &op, sizeof(op)) != sizeof(op))
		die("request to child %d (pid %d): %s", i, children[i].pid,
		    errstr(errno));
	if (read(children[i].rsp, &r, sizeof(r)) != sizeof(r))
		die("child %d (pid %d) died during a request", i,
		    children[i].pid);
	return r;
}

/* SIGKILL and reap every child. Async-signal-safe. */
static void kill_children(void)
{
	int i, n = nchildren;

	for (i = 0; i < n; i++)
		kill(children[i].pid, SIGKILL);
	for (i = 0; i < n; i++) {
		while (waitpid(children[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(children[i].req);
		close(children[i].rsp);
	}
	nchildren = 0;
}

/* ------------------------------------------------------------------ */
/* Clean-up                                                             */

static void cleanup_warn(bool quiet, const char *what, const char *path,
			 int err)
{
	cleanup_failed = true;
	if (!quiet)
		fprintf(stderr, "ksm_bench: clean-up: %s %s: %s\n", what, path,
			errstr(err));
}

/*
 * Kill the children, remove our partitions, unmerge what ksmd merged and
 * restore its settings. Only async-signal-safe calls when @quiet (from the
 * signal handler).
 */
static void cleanup(bool quiet)
{
	int err;

	if (in_cleanup)
		return;
	in_cleanup = 1;
	kill_children();
	while (nparts > 0) {
		err = sysfs_write(CONTROL "/remove_partition",
				  parts[nparts - 1]);
		if (err && err != -ENOENT)
			cleanup_warn(quiet, "remove partition",
				     parts[nparts - 1], -err);
		nparts--;
	}
	if (ksmd_touched) {
		/* 2 unmerges whatever ksmd merged, then the saved state */
		err = sysfs_write(KSM_SYSFS_DIR "/run", "2");
		if (err)
			cleanup_warn(quiet, "write 2 to", KSM_SYSFS_DIR "/run",
				     -err);
		err = sysfs_write(KSM_SYSFS_DIR "/run", saved_run);
		if (err)
			cleanup_warn(quiet, "restore", KSM_SYSFS_DIR "/run",
				     -err);
		err = sysfs_write(KSM_SYSFS_DIR "/pages_to_scan", saved_scan);
		if (err)
			cleanup_warn(quiet, "restore",
				     KSM_SYSFS_DIR "/pages_to_scan", -err);
		err = sysfs_write(KSM_SYSFS_DIR "/sleep_millisecs",
				  saved_sleep);
		if (err)
			cleanup_warn(quiet, "restore",
				     KSM_SYSFS_DIR "/sleep_millisecs", -err);
		ksmd_touched = 0;
	}
	in_cleanup = 0;
}

static void on_signal(int sig)
{
	if (in_cleanup) {
		/* the clean-up under way finishes; main exits then */
		got_signal = sig;
		return;
	}
	cleanup(true);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ------------------------------------------------------------------ */
/* Phases                                                               */

static void phase_floor(struct result *res)
{
	uint64_t cpu_ns = 0, hash = 0;
	struct reply r;
	double t0;
	int i;

	progress("phase floor: every page read and hashed once");
	start_children(opt.procs);
	t0 = now();
	for (i = 0; i < opt.procs; i++) {
		r = child_request(i, REQ_HASH);
		cpu_ns += r.cpu_ns;
		hash ^= r.hash;
	}
	res->wall = now() - t0;
	res->cpu = cpu_ns / 1e9;
	res->saved = -1;
	res->expected = -1;
	kill_children();
	progress("floor: %.2f s wall, %.2f s CPU (checksum %016llx)",
		 res->wall, res->cpu, (unsigned long long)hash);
}

/* Duplicates merge within a partition only: P processes over k of them */
static long long expected_saved(int k)
{
	int used = k < opt.procs ? k : opt.procs;

	return (long long)ndup * (opt.procs - used);
}

/* KSM pages: one per duplicate in each partition of two processes or more */
static long long expected_shared(int k)
{
	int members = opt.procs / k, extra = opt.procs % k;
	int multi = members >= 2 ? k : members == 1 ? extra : 0;

	return (long long)ndup * multi;
}

static void phase_selective(struct result *res, int k)
{
	double t0, t1, cpu0, cpu1, sys0, sys1;
	unsigned long long sharing = 0, shared = 0;
	char path[256], buf[128];
	int i, err;

	progress("phase selective, %d partition%s", k, k > 1 ? "s" : "");
	start_children(opt.procs);
	for (i = 0; i < k; i++) {
		snprintf(parts[i], sizeof(parts[i]), "ksm-bench-%d-%d",
			 getpid(), i);
		nparts = i + 1;
		err = sysfs_write(CONTROL "/add_partition", parts[i]);
		if (err) {
			nparts = i;
			die("write \"%s\" to %s: %s", parts[i],
			    CONTROL "/add_partition", errstr(-err));
		}
	}
	progress("merging %d x %ld MiB into %d partition%s", opt.procs,
		 opt.mib, k, k > 1 ? "s" : "");
	self_cpu(&cpu0, &sys0);
	t0 = now();
	for (i = 0; i < opt.procs; i++) {
		snprintf(path, sizeof(path), PARTITIONS "/%s/merge",
			 parts[i % k]);
		snprintf(buf, sizeof(buf), "%d 0x%lx 0x%lx\n",
			 children[i].pid, children[i].addr,
			 children[i].addr + npages * PAGE);
		sysfs_write_or_die(path, buf);
	}
	t1 = now();
	self_cpu(&cpu1, &sys1);
	for (i = 0; i < k; i++) {
		sharing += part_ull(i, "pages_sharing");
		shared += part_ull(i, "pages_shared");
	}
	res->wall = t1 - t0;
	res->cpu = cpu1 - cpu0;
	res->sys = sys1 - sys0;
	res->saved = sharing;
	res->expected = expected_saved(k);
	progress("merged in %.2f s wall, %.2f s CPU (%.2f s system): "
		 "pages_sharing %llu, pages_shared %llu (expected %lld, %lld)",
		 res->wall, res->cpu, res->sys, sharing, shared,
		 res->expected, expected_shared(k));

	t0 = now();
	while (nparts > 0) {
		sysfs_write_or_die(CONTROL "/remove_partition",
				   parts[nparts - 1]);
		nparts--;
	}
	progress("removed the partition%s (unmerging) in %.2f s",
		 k > 1 ? "s" : "", now() - t0);
	kill_children();
}

/* Write the largest pages_to_scan the kernel takes; returns it */
static const char *set_max_pages_to_scan(char *out, size_t size)
{
	char path[] = KSM_SYSFS_DIR "/pages_to_scan";
	char back[32];
	size_t i;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(max_scan_tries); i++) {
		err = sysfs_write(path, max_scan_tries[i]);
		if (err)
			continue;
		sysfs_read_or_die(path, back, sizeof(back));
		if (!strcmp(back, max_scan_tries[i])) {
			snprintf(out, size, "%s", back);
			return out;
		}
	}
	die("write %s: no large value accepted (last: %s)", path,
	    err ? errstr(-err) : "read back differs");
}

static void phase_ksmd(struct result *res, bool best, long long target)
{
	double t0, t, cpu0, last = 0;
	unsigned long long sharing, base;
	char back[32];
	pid_t ksmd;
	int i;

	progress("phase ksmd, %s settings", best ? "best" : "default");
	start_children(opt.procs);
	for (i = 0; i < opt.procs; i++) {
		struct reply r = child_request(i, REQ_MERGEABLE);

		if (r.err)
			die("child %d (pid %d): madvise(MADV_MERGEABLE): %s",
			    i, children[i].pid, errstr(r.err));
	}

	ksmd_touched = 1;
	if (best) {
		set_max_pages_to_scan(res->scan, sizeof(res->scan));
		ksm_write("sleep_millisecs", "0");
	} else {
		ksm_write("pages_to_scan", DEFAULT_SCAN);
		ksm_write("sleep_millisecs", DEFAULT_SLEEP);
		snprintf(res->scan, sizeof(res->scan), DEFAULT_SCAN);
	}
	sysfs_read_or_die(KSM_SYSFS_DIR "/sleep_millisecs", back,
			  sizeof(back));
	progress("ksmd: pages_to_scan %s, sleep_millisecs %s; target "
		 "pages_sharing >= %lld, timeout %.0f s", res->scan, back,
		 target, opt.timeout);

	ksmd = find_ksmd();
	base = ksm_ull("pages_sharing");
	cpu0 = proc_cpu(ksmd);
	t0 = now();
	ksm_write("run", "1");
	for (;;) {
		sharing = ksm_ull("pages_sharing") - base;
		t = now() - t0;
		if ((long long)sharing >= target) {
			res->reached = true;
			break;
		}
		if (t >= opt.timeout)
			break;
		if (t - last >= PROGRESS_S) {
			last = t;
			progress("ksmd: pages_sharing %llu after %.0f s "
				 "(ksmd CPU %.1f s)", sharing, t,
				 proc_cpu(ksmd) - cpu0);
		}
		usleep(POLL_US);
	}
	res->wall = t;
	res->cpu = proc_cpu(ksmd) - cpu0;
	res->saved = sharing;
	res->expected = expected_saved(1);
	res->ksmd = true;
	if (res->reached)
		progress("ksmd reached %llu pages in %.2f s, CPU %.2f s",
			 sharing, res->wall, res->cpu);
	else
		progress("ksmd did NOT reach %lld pages in %.0f s: %llu "
			 "(CPU %.2f s)", target, opt.timeout, sharing,
			 res->cpu);

	/* Unmerge everything (synchronous), then stop */
	t0 = now();
	ksm_write("run", "2");
	while (ksm_ull("pages_shared")) {
		if (now() - t0 > UNMERGE_WAIT_S)
			die("%s/pages_shared still %llu %.0f s after run=2",
			    KSM_SYSFS_DIR, ksm_ull("pages_shared"),
			    UNMERGE_WAIT_S);
		usleep(POLL_US);
	}
	ksm_write("run", "0");
	progress("ksmd unmerged all in %.2f s", now() - t0);
	kill_children();
}

/* ------------------------------------------------------------------ */
/* Report                                                               */

static void print_row(const struct result *r)
{
	char saved[24] = "-", mib[24] = "-", exp[24] = "-";

	if (r->saved >= 0) {
		snprintf(saved, sizeof(saved), "%lld", r->saved);
		snprintf(mib, sizeof(mib), "%.1f",
			 r->saved * (double)PAGE / (1 << 20));
	}
	if (r->expected >= 0)
		snprintf(exp, sizeof(exp), "%lld", r->expected);
	printf("%-26s %9.2f %9.2f %11s %9s %10s%s\n", r->name, r->wall,
	       r->cpu, saved, mib, exp,
	       r->ksmd && !r->reached ? "  NOT REACHED" : "");
}

enum bound {
	EXACT,
	AT_LEAST,	/* the true ratio is at least the value shown */
	AT_MOST,	/* ... at most */
};

/* One ratio; @le: the target is an upper limit (<=), else a lower one */
static void print_ratio(const char *name, double num, double den,
			enum bound b, bool le, double target)
{
	const char *verdict;
	double v;
	bool met;

	if (den <= 0 || num < 0) {
		printf("%-40s %10s  %s %-4g  n/a\n", name, "n/a",
		       le ? "<=" : ">=", target);
		return;
	}
	v = num / den;
	met = le ? v <= target : v >= target;
	if (target < 0)
		verdict = "";
	else if (b == EXACT)
		verdict = met ? "met" : "MISSED";
	else if ((b == AT_MOST) == le)
		verdict = met ? "met" : "unknown (bound)";
	else
		verdict = met ? "unknown (bound)" : "MISSED";
	if (target < 0)
		printf("%-40s %s%8.2f\n", name,
		       b == EXACT ? "  " : b == AT_LEAST ? ">=" : "<=", v);
	else
		printf("%-40s %s%8.2f  %s %-4g  %s\n", name,
		       b == EXACT ? "  " : b == AT_LEAST ? ">=" : "<=", v,
		       le ? "<=" : ">=", target, verdict);
}

static void report(const struct result *fl, const struct result *s1,
		   const struct result *s4, const struct result *kd,
		   const struct result *kb, long long target)
{
	printf("\nSelective KSM benchmark: %d processes x %ld MiB, "
	       "duplicate fraction %.2f\n", opt.procs, opt.mib, opt.dup);
	printf("  per process: %zu duplicate + %zu unique pages of 4 KiB; "
	       "CPUs online: %ld\n", ndup, npages - ndup,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("  ksmd phases stop at pages_sharing >= %lld (%.2f x the "
	       "1-partition saving)\n  or after %.0f s. ksmd default: "
	       "pages_to_scan %s, sleep_millisecs %s;\n  best: pages_to_scan "
	       "%s, sleep_millisecs 0\n\n", target, opt.frac, opt.timeout,
	       kd->scan, DEFAULT_SLEEP, kb->scan);
	printf("%-26s %9s %9s %11s %9s %10s\n", "phase", "wall s", "CPU s",
	       "pages saved", "saved MiB", "expected");
	print_row(fl);
	print_row(s1);
	print_row(s4);
	print_row(kd);
	print_row(kb);
	printf("\nCPU s: floor = the hashing processes' CPU time; selective ="
	       " the writer's user+sys\n(getrusage; system %.2f s and %.2f s)"
	       "; ksmd = the ksmd kthread's utime+stime\n(/proc/PID/stat, "
	       "%ld ticks/s). pages saved = pages_sharing.\n", s1->sys,
	       s4->sys, sysconf(_SC_CLK_TCK));
	if (!kd->reached || !kb->reached)
		printf("NOT REACHED: ksmd did not save %lld pages within %.0f s"
		       "; its time is a lower\nbound and the ratios using it "
		       "are bounds.\n", target, opt.timeout);

	printf("\n%-40s %10s  %-7s  %s\n", "ratio", "value", "target",
	       "verdict");
	print_ratio("selective CPU / ksmd-best CPU", s1->cpu, kb->cpu,
		    kb->reached ? EXACT : AT_MOST, true, 0.5);
	print_ratio("ksmd-default wall / selective wall", kd->wall, s1->wall,
		    kd->reached ? EXACT : AT_LEAST, false, 10);
	print_ratio("selective wall / floor wall", s1->wall, fl->wall,
		    EXACT, true, 4);
	print_ratio("selective CPU / floor CPU", s1->cpu, fl->cpu, EXACT,
		    true, 4);
	print_ratio("4 partitions / 1 partition, wall", s4->wall, s1->wall,
		    EXACT, true, -1);
	print_ratio("4 partitions / 1 partition, CPU", s4->cpu, s1->cpu,
		    EXACT, true, -1);
	print_ratio("ksmd-best wall / selective wall", kb->wall, s1->wall,
		    kb->reached ? EXACT : AT_LEAST, false, -1);
	print_ratio("ksmd-default CPU / selective CPU", kd->cpu, s1->cpu,
		    kd->reached ? EXACT : AT_LEAST, false, -1);
}

/* ------------------------------------------------------------------ */
/* Set-up                                                               */

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: ksm_bench [-p PROCS] [-m MIB] [-d FRACTION] "
		"[-t SECONDS] [-f FRACTION]\n"
		"  -p  processes (default 8)\n"
		"  -m  MiB of anonymous memory per process (default 64)\n"
		"  -d  duplicate fraction of each process's pages "
		"(default 0.75)\n"
		"  -t  timeout of each ksmd phase in seconds (default 600)\n"
		"  -f  ksmd phases end at this fraction of the 1-partition "
		"saving (default 1)\n"
		"Runs as root with KSM idle; see kernel-module/README.md.\n");
	exit(status);
}

static double parse_num(const char *s, char o, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) {
		fprintf(stderr, "ksm_bench: -%c %s: want a number in "
			"[%g, %g]\n", o, s, min, max);
		usage(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "p:m:d:t:f:h")) != -1) {
		switch (c) {
		case 'p':
			opt.procs = parse_num(optarg, c, 1, MAX_PROCS);
			if (opt.procs != atof(optarg))
				usage(2);
			break;
		case 'm':
			opt.mib = parse_num(optarg, c, 1, MAX_MIB);
			if (opt.mib != atof(optarg))
				usage(2);
			break;
		case 'd':
			opt.dup = parse_num(optarg, c, 0, 1);
			break;
		case 't':
			opt.timeout = parse_num(optarg, c, 1, 1e6);
			break;
		case 'f':
			opt.frac = parse_num(optarg, c, 0.01, 1);
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

static void check_ksm_idle(void)
{
	char buf[64];
	int err;

	if (geteuid())
		die("must run as root (writes %s)", KSM_SYSFS_DIR);
	if (access(CONTROL "/add_partition", W_OK))
		die("%s: %s (kernel without CONFIG_SELECTIVE_KSM?)",
		    CONTROL "/add_partition", errstr(errno));
	sysfs_read_or_die(KSM_SYSFS_DIR "/run", saved_run, sizeof(saved_run));
	sysfs_read_or_die(KSM_SYSFS_DIR "/pages_to_scan", saved_scan,
			  sizeof(saved_scan));
	sysfs_read_or_die(KSM_SYSFS_DIR "/sleep_millisecs", saved_sleep,
			  sizeof(saved_sleep));
	if (strcmp(saved_run, "0") || ksm_ull("pages_shared"))
		die("KSM is in use (%s/run = %s, pages_shared = %llu): the "
		    "benchmark needs it idle", KSM_SYSFS_DIR, saved_run,
		    ksm_ull("pages_shared"));
	/* pages_to_scan cannot be written while the advisor tunes it */
	err = sysfs_read(KSM_SYSFS_DIR "/advisor_mode", buf, sizeof(buf));
	if (!err && !strstr(buf, "[none]"))
		die("%s/advisor_mode is \"%s\": set it to none", KSM_SYSFS_DIR,
		    buf);
}

int main(int argc, char **argv)
{
	struct result fl = { .name = "floor (read + hash)" };
	struct result s1 = { .name = "selective, 1 partition" };
	struct result s4 = { .name = "selective, 4 partitions" };
	struct result kd = { .name = "ksmd, default settings" };
	struct result kb = { .name = "ksmd, best settings" };
	struct sigaction sa = { .sa_handler = on_signal,
				.sa_flags = SA_RESTART };
	long long target;
	size_t i;

	t_start = now();
	parse_args(argc, argv);
	npages = (size_t)opt.mib << 20 >> 12;
	ndup = (size_t)(opt.dup * npages + 0.5);

	sigfillset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(handled_signals); i++)
		sigaction(handled_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	check_ksm_idle();

	progress("%d processes x %ld MiB, duplicate fraction %.2f "
		 "(%zu of %zu pages)", opt.procs, opt.mib, opt.dup, ndup,
		 npages);
	phase_floor(&fl);
	phase_selective(&s1, 1);
	phase_selective(&s4, MAX_PARTS);
	target = (long long)(opt.frac * s1.saved);
	if (target < opt.frac * s1.saved)
		target++;
	phase_ksmd(&kd, false, target);
	phase_ksmd(&kb, true, target);
	cleanup(false);
	if (cleanup_failed)
		die("could not restore everything (see above)");

	report(&fl, &s1, &s4, &kd, &kb, target);
	progress("done in %.0f s", now() - t_start);
	if (got_signal) {
		signal(got_signal, SIG_DFL);
		raise(got_signal);
	}
	return 0;
}
