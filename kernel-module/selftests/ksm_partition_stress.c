// SPDX-License-Identifier: GPL-2.0
/*
 * Selective KSM (CONFIG_SELECTIVE_KSM) robustness tests: fuzz and races.
 *
 * ksm_partition_tests.c checks the exact results of well-formed calls. Here
 * the calls are random, malformed, or race with something else, and each
 * test checks what must hold whatever happened: only documented errnos,
 * counters that add up and return to zero, no frame shared across
 * partitions, no lost write, a prompt SIGKILL, and that every partition can
 * still be removed. The VM harness (scripts/vm-run.sh) also fails the run on
 * any kernel warning.
 *
 *   ksm_partition_stress [-i OPS] [-s SECONDS] [-r SEED] [-m PERCENT]
 *                        [-k SECONDS] [-w SECONDS] [FILTER]
 *
 *   -i  fuzz operations (default 100000)
 *   -s  seconds each race runs (default 5)
 *   -r  PRNG seed (default: from the clock; printed, to replay a run)
 *   -m  large range test: percent of MemAvailable to map (default 60)
 *   -k  large range test: longest SIGKILL-to-reap time allowed (default 5 s)
 *   -w  watchdog: seconds one test may take (default 300)
 *   FILTER  runs only the tests whose name contains it
 *
 * Run as root (sysfs, pagemap PFNs), on a kernel with the series: one
 * without the ksm_* syscalls (ENOSYS) fails at once.
 *
 * The tests:
 *  1. fuzz: random and malformed writes to add_partition, remove_partition,
 *     merge and unmerge (pids of live, exited and zombie children, real and
 *     bogus ranges, formats), then: counters bounded by the pages that
 *     exist, zero once the children exit, every partition removable, no
 *     process left bound; writer children check their data all along
 *  2. the same fuzz for ksm_open, ksm_unlink, ksm_merge and ksm_unmerge
 *     (real and stale pidfds, bad fds, flags, names, pointers), mixed in
 *  3. merge vs the target's exit, SIGKILL or exec: exact counters after
 *  4. merge and unmerge vs remove_partition: nothing bound once it returns
 *  5. ksm_merge vs ksm_unlink and the last close of the fd
 *  6. merge vs munmap, MAP_FIXED, mremap, fork, MADV_DONTNEED, mprotect in
 *     the target, which checks its data after each
 *  7. two partitions merging at once: never a frame in both (pagemap)
 *  8. merge vs writer threads: no lost write
 *  9. a merge of most of the memory, its merger killed: prompt exit, then
 *     a consistent partition
 * Every errno must be a documented one, and the seed is printed (-r).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/ksm.h>

#include "kselftest.h"
#include "ksm_partition_lib.h"

#define USER_TOP	0x7ffffffff000UL	/* TASK_SIZE_MAX on x86-64 */
#define NERRNO		134			/* errnos counted one by one */

static struct {
	unsigned long fuzz_ops;
	unsigned int race_secs;
	uint64_t seed;
	unsigned int large_pct;
	double kill_limit;
	unsigned int watchdog;
} opts = { 100000, 5, 0, 60, 5.0, 300 };

static const char *current_test = "";

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The clock's step: a tick when the clocksource is jiffies */
static double clock_step(void)
{
	double t0 = now(), t;

	while ((t = now()) == t0)
		;
	t0 = t;
	while ((t = now()) == t0)
		;
	return t - t0;
}

/* splitmix64: each test and thread has its own, derived from the seed */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int percent)
{
	return below(r, 100) < percent;
}

static void rng_init(struct rng *r, uint64_t stream)
{
	r->s = opts.seed ^ (stream * 0xd1b54a32d192ed03ULL);
	rnd(r);
}

static bool documented_errno(int e)
{
	switch (e) {
	case EINVAL: case ENOMEM: case ESRCH: case EPERM: case EACCES:
	case EBUSY: case EEXIST: case ENOENT: case EINTR: case EBADF:
	case EFAULT: case ENAMETOOLONG: case EDQUOT:
		return true;
	}
	return false;
}

/* Outcomes of one kind of operation: successes and each errno */
struct hist {
	unsigned long ops;
	unsigned long n[NERRNO + 1];	/* [0] = success, [NERRNO] = others */
};

static void hist_add(struct hist *h, int err)
{
	h->ops++;
	h->n[err >= 0 && err < NERRNO ? err : NERRNO]++;
}

static void hist_sum(struct hist *to, const struct hist *from)
{
	int i;

	to->ops += from->ops;
	for (i = 0; i <= NERRNO; i++)
		to->n[i] += from->n[i];
}

static void hist_print(const char *what, const struct hist *h)
{
	char line[1024];
	size_t len;
	int i;

	len = snprintf(line, sizeof(line), "%s: %lu ops:", what, h->ops);
	for (i = 0; i <= NERRNO && len < sizeof(line); i++) {
		if (!h->n[i])
			continue;
		len += snprintf(line + len, sizeof(line) - len, " %s %lu",
				i == NERRNO ? "other" : errname(i), h->n[i]);
	}
	ksft_print_msg("%s\n", line);
}

/* Printable form of a payload, for the log */
static const char *escape(const char *buf, size_t len, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = buf[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = c;
		else
			o += snprintf(out + o, size - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Partitions and syscalls                                              */

static bool unbound(pid_t pid)
{
	char name[128] = "?";

	if (ksm_stat_partition(pid, name, sizeof(name)) && !strcmp(name, "-"))
		return true;
	ksft_print_msg("pid %d: ksm_partition %s\n", pid, name);
	return false;
}

/*
 * 0, or the errno of a failed sys_*() call (EIO, which no call documents,
 * for a result that is no errno)
 */
static int sys_err(long ret)
{
	if (ret >= 0)
		return 0;
	return ret >= -MAX_ERRNO ? -ret : EIO;
}

/* ------------------------------------------------------------------ */
/* Target processes                                                     */

/*
 * A child owning an area of @npages pages, page i holding pattern(p, i). Its
 * body runs after the fill (and the ready signal); when it returns, the
 * child waits to be killed.
 */
struct proc {
	pid_t pid;
	int pidfd;
	char *mem;
	size_t npages;
	uint64_t base;
	size_t dup;	/* page i holds base + i % dup (all distinct if 0) */
};

typedef void (*proc_body)(struct proc *p, void *arg);

#define PROC_THP	1

static uint64_t pattern(const struct proc *p, size_t i)
{
	return p->base + (p->dup ? i % p->dup : i);
}

static unsigned long addr_of(const struct proc *p, size_t page)
{
	return (unsigned long)p->mem + page * PAGE;
}

static bool proc_start(struct proc *p, size_t npages, uint64_t base,
		       size_t dup, unsigned int flags, proc_body body,
		       void *arg)
{
	size_t len = npages * PAGE, map = len;
	int ready[2];
	char *mem;
	char c;

	p->pid = 0;
	p->pidfd = -1;
	p->npages = npages;
	p->base = base;
	p->dup = dup;
	if (flags & PROC_THP)
		map += THP_SIZE;
	mem = mmap(NULL, map, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return false;
	p->mem = mem;
	if (flags & PROC_THP) {
		p->mem = (char *)(((uintptr_t)mem + THP_SIZE - 1) &
				  ~(THP_SIZE - 1));
		madvise(p->mem, len, MADV_HUGEPAGE);
	}
	if (pipe2(ready, O_CLOEXEC)) {
		munmap(mem, map);
		return false;
	}
	fflush(stdout);
	p->pid = fork();
	if (!p->pid) {
		size_t i;

		close(ready[0]);
		for (i = 0; i < npages; i++)
			fill_page(p->mem + i * PAGE, pattern(p, i));
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		close(ready[1]);
		if (body)
			body(p, arg);
		for (;;)
			pause();
	}
	close(ready[1]);
	/* The parent never touches the area: the child's pages are its own */
	munmap(mem, map);
	if (p->pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		if (p->pid > 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		p->pid = 0;
		return false;
	}
	close(ready[0]);
	p->pidfd = sys_pidfd_open(p->pid);
	return true;
}

/* SIGKILL and reap (nothing if not started) */
static void proc_stop(struct proc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pid = 0;
	p->pidfd = -1;
}

static int merge_all(const char *name, const struct proc *p)
{
	return part_range(name, "merge", p->pid, addr_of(p, 0),
			  addr_of(p, p->npages));
}

/*
 * Merge or unmerge pages [from, to) of @p into partition @name, through
 * @fd (ksm_merge / ksm_unmerge) if @fd >= 0, else through sysfs. Returns 0
 * or a positive errno.
 */
static int range_op(const char *name, int fd, bool merge, const struct proc *p,
		    size_t from, size_t to)
{
	unsigned long s = addr_of(p, from), e = addr_of(p, to);
	long r;

	if (fd < 0)
		return -part_range(name, merge ? "merge" : "unmerge", p->pid,
				   s, e);
	if (merge)
		r = sys_ksm_merge(fd, p->pidfd, s, e - s, 0);
	else
		r = sys_ksm_unmerge(fd, p->pidfd, s, e - s, 0);
	if (r < 0)
		return sys_err(r);
	/* ksm_merge returns the pages it merged, ksm_unmerge 0 */
	if (merge ? r > (long)(to - from) : r != 0)
		return EIO;
	return 0;
}

/* The vmas of a process: up to @max [start, end) pairs */
static int read_maps(pid_t pid, unsigned long (*maps)[2], int max)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &maps[n][0], &maps[n][1]) == 2)
			n++;
	fclose(f);
	return n;
}

/* Pages of the address space of a process (VmSize), 0 if unknown */
static unsigned long vm_pages(pid_t pid)
{
	char path[64], line[256];
	unsigned long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb / (PAGE / 1024);
}

/* The names in the partition directory; returns how many (at most @max) */
static int list_partitions(char (*names)[80], int max)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(PARTITIONS);
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= 80)
			continue;
		memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	return n;
}

/* Every process of the system: none bound to a partition */
static bool no_process_bound(void)
{
	struct dirent *de;
	bool ok = true;
	char name[128];
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return false;
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 0 || !ksm_stat_partition(pid, name, sizeof(name)))
			continue;
		if (strcmp(name, "-")) {
			ksft_print_msg("pid %d is still bound to %s\n", pid,
				       name);
			ok = false;
		}
	}
	closedir(d);
	return ok;
}

/* ------------------------------------------------------------------ */
/* 1. Fuzz                                                              */

#define FZ_NAMES	6
#define FZ_CHILDREN	5	/* and the fuzzer itself, as c[FZ_CHILDREN] */
#define FZ_SELF		FZ_CHILDREN
#define FZ_DEAD		8
#define FZ_FDS		12
#define FZ_MAPS		48
#define FZ_REPLACE	1000	/* a child is replaced every so many ops */
#define FZ_LOG		12	/* unexpected results printed in full */

enum fz_op {
	FZ_ADD, FZ_REMOVE, FZ_MERGE, FZ_UNMERGE, FZ_READ, FZ_ACCESS, FZ_JUNK,
	FZ_OPEN, FZ_UNLINK, FZ_SMERGE, FZ_SUNMERGE, FZ_CLOSE,
	FZ_NOPS,
};

static const char *const fz_op_names[FZ_NOPS] = {
	"add_partition", "remove_partition", "merge", "unmerge",
	"counter reads", "wrong access mode", "random bytes",
	"ksm_open", "ksm_unlink", "ksm_merge", "ksm_unmerge", "close",
};

/* Shared with the writer children */
struct fz_shared {
	unsigned long writes;
	unsigned long bad;
};

struct fz_child {
	struct proc p;
	bool writer, replaceable;
	unsigned long maps[FZ_MAPS][2];
	int nmaps;
};

struct fuzz {
	struct rng r;
	struct fz_child c[FZ_CHILDREN + 1];
	pid_t dead[FZ_DEAD];		/* exited and reaped */
	int dead_pidfd[FZ_DEAD];	/* pidfds of those */
	unsigned int ndead;
	pid_t zombie;			/* killed, not reaped yet */
	int zombie_pidfd;
	int fds[FZ_FDS];		/* from ksm_open */
	int nfds;
	char *guard;	/* a page, then an unmapped one */
	int devnull, pipefd[2];
	struct fz_shared *sh;
	struct hist h[FZ_NOPS];
	unsigned long op;		/* the operation being done */
	unsigned long classes;		/* (kind, outcome) pairs seen */
	unsigned long last_new;		/* operation that saw the newest */
	unsigned long bad_sysfs, bad_sys, logged;
	char names[FZ_NAMES][16];
};

/* Writer children: rewrite random pages, checking the last value first */
static void fz_writer(struct proc *p, void *arg)
{
	struct fz_shared *sh = arg;
	uint64_t *last = calloc(p->npages, sizeof(*last));
	struct rng r = { (uint64_t)getpid() * 7919 };
	unsigned long k;
	size_t i;

	if (!last)
		_exit(1);
	for (i = 0; i < p->npages; i++)
		last[i] = pattern(p, i);
	for (k = 0;; k++) {
		uint64_t v;

		i = below(&r, p->npages);
		if (!page_holds(p->mem + i * PAGE, last[i]))
			__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
		/* Few values (duplicates), never the one already there */
		v = p->base + (last[i] - p->base + 1 + below(&r, 7)) % 8;
		fill_page(p->mem + i * PAGE, v);
		last[i] = v;
		__atomic_add_fetch(&sh->writes, 1, __ATOMIC_RELAXED);
		if (k % 8 == 7)
			usleep(200);
	}
}

/* An idle child that uses ksmd, so that merges get EBUSY */
static void fz_ksmd_user(struct proc *p, void *arg)
{
	(void)p;
	(void)arg;
	prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
}

static void fz_child_start(struct fuzz *f, int i)
{
	struct fz_child *c = &f->c[i];
	bool ok;

	switch (i) {
	case 0:	/* writers: values base..base+7 */
	case 1:
		c->writer = true;
		c->replaceable = i == 1;
		ok = proc_start(&c->p, 64, 10, 8, 0, fz_writer, f->sh);
		break;
	case 2:	/* THP-backed, 2 MiB */
		ok = proc_start(&c->p, THP_SIZE / PAGE, 10, 64, PROC_THP,
				NULL, NULL);
		break;
	case 3:
		c->replaceable = true;
		ok = proc_start(&c->p, 64, 10, 16, 0,
				chance(&f->r, 20) ? fz_ksmd_user : NULL, NULL);
		break;
	default:
		c->replaceable = true;
		ok = proc_start(&c->p, 64, 10, 0, 0, NULL, NULL);
		break;
	}
	if (!ok)
		ksft_exit_fail_msg("cannot start a fuzz child: %s\n",
				   strerror(errno));
	c->nmaps = read_maps(c->p.pid, c->maps, FZ_MAPS);
}

static void fz_reap_zombie(struct fuzz *f)
{
	unsigned int slot = f->ndead % FZ_DEAD;

	if (f->zombie <= 0)
		return;
	waitpid(f->zombie, NULL, 0);
	if (f->ndead >= FZ_DEAD && f->dead_pidfd[slot] >= 0)
		close(f->dead_pidfd[slot]);
	f->dead[slot] = f->zombie;
	f->dead_pidfd[slot] = f->zombie_pidfd;
	f->ndead++;
	f->zombie = 0;
	f->zombie_pidfd = -1;
}

/* Kill a replaceable child (left unreaped until next time), start another */
static void fz_replace(struct fuzz *f)
{
	int i;

	do {
		i = below(&f->r, FZ_CHILDREN);
	} while (!f->c[i].replaceable);
	fz_reap_zombie(f);
	kill(f->c[i].p.pid, SIGKILL);
	f->zombie = f->c[i].p.pid;
	f->zombie_pidfd = f->c[i].p.pidfd;
	fz_child_start(f, i);
	f->c[FZ_SELF].nmaps = read_maps(getpid(), f->c[FZ_SELF].maps, FZ_MAPS);
}

/* A name for add_partition / remove_partition: @len bytes in @buf */
static size_t fz_name(struct fuzz *f, char *buf, size_t size)
{
	struct rng *r = &f->r;
	const char *pool = f->names[below(r, FZ_NAMES)];
	size_t i, n;

	switch (below(r, 36)) {
	case 0:
		return 0;
	case 1:
		return snprintf(buf, size, "\n");
	case 2:
		return snprintf(buf, size, "FZ-%d", (int)below(r, 6));
	case 3:
		return snprintf(buf, size, "-%s", pool);
	case 4:
		return snprintf(buf, size, "%s-", pool);
	case 5:
		return snprintf(buf, size, below(r, 2) ? "." : "..");
	case 6:
		return snprintf(buf, size, "a_b");
	case 7:
		return snprintf(buf, size, "%s/x", pool);
	case 8:
		return snprintf(buf, size, "%s\n\n", pool);
	case 9:
		return snprintf(buf, size, " %s", pool);
	case 10:
		return snprintf(buf, size, "%s ", pool);
	case 11:	/* 63 characters: valid; 64 or more: not */
		n = 63 + below(r, 3) * below(r, 100);
		n = n < size ? n : size - 1;
		memset(buf, 'l', n);
		return n;
	case 12:	/* embedded NUL */
		n = snprintf(buf, size, "%s", pool);
		buf[n] = '\0';
		memcpy(buf + n + 1, "xy", 2);
		return n + 3;
	case 13:	/* random bytes */
		n = below(r, 80);
		for (i = 0; i < n; i++)
			buf[i] = rnd(r);
		return n;
	case 14: {	/* random, from about the name alphabet */
		static const char abc[] = "az9.-_A";

		n = 1 + below(r, 5);
		for (i = 0; i < n; i++)
			buf[i] = abc[below(r, sizeof(abc) - 1)];
		return n;
	}
	default:
		return snprintf(buf, size, chance(r, 70) ? "%s\n" : "%s", pool);
	}
}

/* A pid for a range payload; returns the child it names, or NULL */
static struct fz_child *fz_pid(struct fuzz *f, char *tok, size_t size)
{
	struct rng *r = &f->r;
	struct fz_child *c = &f->c[below(r, FZ_CHILDREN)];
	unsigned int k = below(r, 100);

	if (k < 70) {
		snprintf(tok, size, "%d", c->p.pid);
		return c;
	}
	if (k < 73) {
		snprintf(tok, size, "%d", getpid());
		return &f->c[FZ_SELF];
	}
	if (k < 79 && f->ndead) {
		unsigned int n = f->ndead < FZ_DEAD ? f->ndead : FZ_DEAD;

		snprintf(tok, size, "%d", f->dead[below(r, n)]);
		return NULL;
	}
	if (k < 82 && f->zombie) {
		snprintf(tok, size, "%d", f->zombie);
		return NULL;
	}
	switch (k % 10) {
	case 0:
		snprintf(tok, size, "2");	/* kthreadd: no mm */
		break;
	case 1:
		snprintf(tok, size, "0");
		break;
	case 2:
		snprintf(tok, size, "-%d", (int)below(r, 40000));
		break;
	case 3: {
		static const char *const huge[] = {
			"99999999999", "2147483648", "4294967297",
			"-2147483648", "18446744073709551615", "4194304",
		};

		snprintf(tok, size, "%s", huge[below(r, 6)]);
		break;
	}
	case 4:
		snprintf(tok, size, "+%d", c->p.pid);
		return c;
	case 5:
		snprintf(tok, size, "0x%x", c->p.pid);
		break;
	case 6:
		snprintf(tok, size, "000%d", c->p.pid);
		return c;
	case 7:
		snprintf(tok, size, "%d.0", c->p.pid);
		break;
	default: {
		static const char abc[] = "0123456789abcdefx+-";
		size_t i, n = 1 + below(r, 12);

		for (i = 0; i < n && i + 1 < size; i++)
			tok[i] = abc[below(r, sizeof(abc) - 1)];
		tok[i] = '\0';
		break;
	}
	}
	return NULL;
}

/* A range [*s, *e): mostly real pieces of @c's address space */
static void fz_range(struct fuzz *f, struct fz_child *c, unsigned long *s,
		     unsigned long *e)
{
	struct rng *r = &f->r;
	unsigned int k = below(r, 100);
	size_t a, b;

	if (!c)
		c = &f->c[below(r, FZ_CHILDREN)];
	a = below(r, c->p.npages);
	b = a + 1 + below(r, c->p.npages - a);
	*s = addr_of(&c->p, a);
	*e = addr_of(&c->p, b);
	if (k < 45)		/* a piece of the area */
		return;
	if (k < 58) {		/* all of it */
		*s = addr_of(&c->p, 0);
		*e = addr_of(&c->p, c->p.npages);
		return;
	}
	if (k < 70 && c->nmaps) {	/* vmas: one, or several with holes */
		int i = below(r, c->nmaps), j = i + below(r, 3);

		*s = c->maps[i][0];
		*e = c->maps[j < c->nmaps ? j : c->nmaps - 1][1];
		return;
	}
	switch (k % 12) {
	case 0:		/* unaligned */
		*s += 1 + below(r, PAGE - 1);
		break;
	case 1:
		*e -= 1 + below(r, PAGE - 1);
		break;
	case 2:		/* empty */
		*e = *s;
		break;
	case 3:		/* reversed */
		a = *s;
		*s = *e;
		*e = a;
		break;
	case 4: {	/* kernel addresses */
		static const unsigned long k0[] = {
			0xffff888000000000UL, 0xffffffff81000000UL,
			0xffffc90000000000UL, 0x800000000000UL,
		};

		*s = k0[below(r, 4)] + below(r, 64) * PAGE;
		*e = *s + (1 + below(r, 64)) * PAGE;
		if (chance(r, 30))
			*s = addr_of(&c->p, 0);
		break;
	}
	case 5:		/* the end of user space */
		*s = USER_TOP - (1 + below(r, 16)) * PAGE;
		*e = chance(r, 50) ? USER_TOP : USER_TOP + PAGE;
		break;
	case 6:		/* the zero page and low addresses */
		*s = 0;
		*e = (1 + below(r, 16)) * PAGE;
		break;
	case 7:		/* somewhere, most likely unmapped */
		*s = (0x10000 + below(r, 1UL << 35)) * PAGE & (USER_TOP - 1);
		*e = *s + (1 + below(r, 64)) * PAGE;
		break;
	case 8:		/* anything */
		*s = rnd(r);
		*e = rnd(r);
		break;
	case 9:		/* all of user space */
		*s = chance(r, 50) ? 0 : PAGE;
		*e = USER_TOP;
		break;
	case 10:	/* the largest page-aligned end */
		*e = ~0UL & ~(PAGE - 1);
		break;
	default:	/* past the area */
		*e += (1 + below(r, 4096)) * PAGE;
		break;
	}
}

static size_t fz_addr(struct rng *r, char *tok, size_t size, unsigned long v)
{
	switch (below(r, 60)) {
	case 0:
		return snprintf(tok, size, "0X%lX", v);
	case 1:
		return snprintf(tok, size, "%016lx", v);
	case 2:
		return snprintf(tok, size, "%lu", v);
	case 3:
		return snprintf(tok, size, "0x");
	case 4:
		return snprintf(tok, size, "%090lx", v);
	case 5:
		return snprintf(tok, size, "-%lx", v);
	case 6:
		return snprintf(tok, size, "+%lx", v);
	case 7:
		return snprintf(tok, size, "0x%lx%c", v, "gxz-."[below(r, 5)]);
	case 8:
		return snprintf(tok, size, "1%016lx", v);
	case 9:
		return snprintf(tok, size, "0x0x%lx", v);
	default:
		return snprintf(tok, size, chance(r, 50) ? "%lx" : "0x%lx", v);
	}
}

static const char *fz_sep(struct rng *r)
{
	static const char *const seps[] = {
		"\t", "  ", " \t ", "\n", ",", "", "\v", "\r", " \n ",
	};

	return chance(r, 88) ? " " : seps[below(r, 9)];
}

/* "<pid> <start> <end>" and its variants: @len bytes in @buf */
static size_t fz_range_payload(struct fuzz *f, char *buf, size_t size)
{
	static const char *const lead[] = { " ", "\t", "\n", "  " };
	struct rng *r = &f->r;
	char pid[64], s_tok[128], e_tok[128];
	unsigned long s, e;
	struct fz_child *c;
	size_t n = 0;
	unsigned int k;

	if (chance(r, 5)) {	/* random bytes */
		size_t i, len = below(r, 120);

		for (i = 0; i < len; i++)
			buf[i] = chance(r, 50) ? "0123456789abcdefx \t\n"[below(r, 20)] :
				 (char)rnd(r);
		return len;
	}
	c = fz_pid(f, pid, sizeof(pid));
	fz_range(f, c, &s, &e);
	fz_addr(r, s_tok, sizeof(s_tok), s);
	fz_addr(r, e_tok, sizeof(e_tok), e);

#define ADD(...) (n += snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__))
	if (chance(r, 10))
		ADD("%s", lead[below(r, 4)]);
	k = below(r, 100);
	if (k < 86)
		ADD("%s%s%s%s%s", pid, fz_sep(r), s_tok, fz_sep(r), e_tok);
	else if (k < 90)	/* a field missing */
		ADD("%s%s%s", k & 1 ? pid : s_tok, fz_sep(r), e_tok);
	else if (k < 93)	/* two missing */
		ADD("%s", k & 1 ? pid : s_tok);
	else if (k < 97)	/* an extra one */
		ADD("%s %s %s %s", pid, s_tok, e_tok,
		    chance(r, 50) ? e_tok : "0");
	else			/* out of order */
		ADD("%s %s %s", s_tok, e_tok, pid);
	k = below(r, 100);
	if (k < 45)
		ADD("\n");
	else if (k < 50)
		ADD("\n\n");
	else if (k < 54)
		ADD(" ");
	else if (k < 57)
		ADD(" x");
	else if (k < 60 && n + 6 < size) {	/* embedded NUL */
		memcpy(buf + n, "\0junk", 5);
		n += 5;
	}
#undef ADD
	return n < size ? n : size - 1;
}

/* Record one result; unexpected ones are logged with their payload */
static void fz_result(struct fuzz *f, enum fz_op op, int err, bool ok,
		      const char *payload, size_t len, const char *what)
{
	char esc[512];

	hist_add(&f->h[op], err);
	/* Coverage: when each kind of operation first had each outcome */
	if (f->h[op].n[err >= 0 && err < NERRNO ? err : NERRNO] == 1) {
		f->classes++;
		f->last_new = f->op;
	}
	if (ok)
		return;
	if (op >= FZ_OPEN)
		f->bad_sys++;
	else
		f->bad_sysfs++;
	if (f->logged++ < FZ_LOG)
		ksft_print_msg("unexpected: %s %s: %s [%s]\n", fz_op_names[op],
			       what, err ? errname(err) : "success",
			       escape(payload, len, esc, sizeof(esc)));
}

static const char *fz_pool_name(struct fuzz *f)
{
	return f->names[below(&f->r, FZ_NAMES)];
}

static void fz_sysfs_op(struct fuzz *f)
{
	static const char *const ctrs[] = {
		"pages_shared", "pages_sharing", "pages_unshared",
		"pages_scanned", "merged_processes",
	};
	struct rng *r = &f->r;
	char buf[512], path[256];
	unsigned int k = below(r, 100);
	const char *file;
	enum fz_op op;
	size_t len;
	int err;

	if (k < 13) {
		op = k < 10 ? FZ_ADD : FZ_REMOVE;
		len = fz_name(f, buf, sizeof(buf));
		err = -write_raw(op == FZ_ADD ? CONTROL "/add_partition" :
				 CONTROL "/remove_partition", buf, len);
		fz_result(f, op, err, documented_errno(err) || !err, buf, len,
			  "");
		return;
	}
	if (k < 80) {
		op = k < 58 ? FZ_MERGE : FZ_UNMERGE;
		snprintf(path, sizeof(path), PARTITIONS "/%s/%s",
			 chance(r, 97) ? fz_pool_name(f) : "fz-none",
			 op == FZ_MERGE ? "merge" : "unmerge");
		len = fz_range_payload(f, buf, sizeof(buf));
		err = -write_raw(path, buf, len);
		fz_result(f, op, err, documented_errno(err) || !err, buf, len,
			  path + sizeof(PARTITIONS));
		return;
	}
	if (k < 90) {
		long v;

		snprintf(path, sizeof(path), PARTITIONS "/%s/%s",
			 fz_pool_name(f), ctrs[below(r, 5)]);
		v = read_counter(path);
		/* An absent partition, or a sane value (no underflow) */
		err = v < 0 ? (access(path, F_OK) ? ENOENT : EIO) : 0;
		if (v > (1L << 40))
			err = ERANGE;
		fz_result(f, FZ_READ, err, err != EIO && err != ERANGE, "", 0,
			  path + sizeof(PARTITIONS));
		return;
	}
	if (k < 95) {	/* read merge, write a counter: EACCES */
		bool rd = chance(r, 50);
		int fd;

		snprintf(path, sizeof(path), PARTITIONS "/%s/%s",
			 fz_pool_name(f), rd ? "merge" : ctrs[below(r, 5)]);
		fd = open(path, rd ? O_RDONLY : O_WRONLY);
		err = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		fz_result(f, FZ_ACCESS, err, err == EACCES || err == ENOENT,
			  "", 0, path + sizeof(PARTITIONS));
		return;
	}
	/* Random bytes to any of the four files */
	switch (below(r, 4)) {
	case 0:
		file = CONTROL "/add_partition";
		break;
	case 1:
		file = CONTROL "/remove_partition";
		break;
	default:
		snprintf(path, sizeof(path), PARTITIONS "/%s/%s",
			 fz_pool_name(f), chance(r, 50) ? "merge" : "unmerge");
		file = path;
	}
	len = below(r, 200);
	for (size_t i = 0; i < len; i++)
		buf[i] = rnd(r);
	err = -write_raw(file, buf, len);
	fz_result(f, FZ_JUNK, err, documented_errno(err) || !err, buf, len,
		  file);
}

/* A name pointer for ksm_open / ksm_unlink */
static const char *fz_sys_name(struct fuzz *f, char *buf, size_t size)
{
	struct rng *r = &f->r;
	size_t n;

	switch (below(r, 40)) {
	case 0:
		return NULL;
	case 1:
		return (const char *)1;
	case 2:
		return (const char *)0xffffffff81000000UL;
	case 3:	/* no NUL before an unmapped page */
		memcpy(f->guard + PAGE - 4, f->names[0], 4);
		return f->guard + PAGE - 4;
	case 4:	/* 63 characters (valid), 64, or a lot more */
		n = chance(r, 50) ? 63 : chance(r, 50) ? 64 : size - 1;
		memset(buf, 'l', n);
		buf[n] = '\0';
		return buf;
	case 5:
	case 6:
	case 7:
	case 8:
		n = fz_name(f, buf, size - 1);
		buf[n] = '\0';
		return buf;
	default:
		return fz_pool_name(f);
	}
}

static void fz_fd_add(struct fuzz *f, int fd)
{
	if (f->nfds == FZ_FDS) {
		int i = below(&f->r, FZ_FDS);

		close(f->fds[i]);
		f->fds[i] = fd;
		return;
	}
	f->fds[f->nfds++] = fd;
}

/* Any fd: mostly from ksm_open, else of the wrong kind, closed or absurd */
static int fz_ksm_fd(struct fuzz *f, int *tmp)
{
	struct rng *r = &f->r;

	*tmp = -1;
	if (f->nfds && chance(r, 85))
		return f->fds[below(r, f->nfds)];
	switch (below(r, 7)) {
	case 0:
		return -1;
	case 1:
		return f->devnull;
	case 2:
		return f->pipefd[below(r, 2)];
	case 3:
		return f->c[below(r, FZ_CHILDREN)].p.pidfd;
	case 4:
		return 1000 + below(r, 1000);	/* not open */
	case 5:
		return INT_MAX;
	default: {	/* a sysfs file of a partition */
		char path[256];

		snprintf(path, sizeof(path), PARTITIONS "/%s/merge",
			 fz_pool_name(f));
		*tmp = open(path, O_WRONLY);
		return *tmp;
	}
	}
}

/* A pidfd, and the child it refers to (NULL if none) */
static int fz_pidfd(struct fuzz *f, struct fz_child **cp)
{
	struct rng *r = &f->r;
	struct fz_child *c = &f->c[below(r, FZ_CHILDREN)];
	unsigned int k = below(r, 100);

	*cp = NULL;
	if (k < 68) {
		*cp = c;
		return c->p.pidfd;
	}
	if (k < 76 && f->ndead) {
		unsigned int n = f->ndead < FZ_DEAD ? f->ndead : FZ_DEAD;

		return f->dead_pidfd[below(r, n)];
	}
	if (k < 80 && f->zombie_pidfd >= 0)
		return f->zombie_pidfd;
	if (k < 84) {
		*cp = &f->c[FZ_SELF];
		return f->c[FZ_SELF].p.pidfd;
	}
	switch (k % 5) {
	case 0:
		return -1;
	case 1:
		return f->devnull;
	case 2:
		return f->nfds ? f->fds[0] : 9999;
	case 3:
		return 9999;
	default:
		return f->pipefd[0];
	}
}

static void fz_syscall_op(struct fuzz *f)
{
	struct rng *r = &f->r;
	unsigned int k = below(r, 100);
	char buf[6000], what[128];
	const char *name;
	long ret;
	int err;

	if (k < 20) {
		/* Mostly an fd ksm_merge accepts: writable, KSM_SYNC */
		unsigned int flags = chance(r, 80) ? O_RDWR : below(r, 4);
		unsigned int mode;
		static const unsigned int modes[] = {
			0, 0400, 0200, 0777, 01600, 0177777, 0644, 0060,
		};

		if (chance(r, 80))
			flags |= KSM_SYNC;
		if (chance(r, 40))
			flags |= KSM_CREAT;
		if (chance(r, 15))
			flags |= KSM_EXCL;
		if (chance(r, 5))
			flags |= 1U << below(r, 32);
		if (chance(r, 2))
			flags = rnd(r);
		mode = chance(r, 50) ? 0600 : modes[below(r, 8)];
		if (chance(r, 3))
			mode = rnd(r);
		name = fz_sys_name(f, buf, sizeof(buf));
		ret = sys_ksm_open(name, flags, mode);
		err = sys_err(ret);
		snprintf(what, sizeof(what), "flags %#x mode %#o", flags, mode);
		if (ret >= 0) {
			int fdflags = fcntl(ret, F_GETFD);

			/* Close-on-exec, always */
			fz_result(f, FZ_OPEN, 0, fdflags == FD_CLOEXEC,
				  (uintptr_t)name > 4096 ? name : "", 0, what);
			fz_fd_add(f, ret);
			return;
		}
		fz_result(f, FZ_OPEN, err, documented_errno(err), "", 0, what);
		return;
	}
	if (k < 25) {
		name = fz_sys_name(f, buf, sizeof(buf));
		ret = sys_ksm_unlink(name);
		err = sys_err(ret);
		fz_result(f, FZ_UNLINK, err, ret == 0 || documented_errno(err),
			  "", 0, "");
		return;
	}
	if (k < 88) {
		bool merge = k < 62;
		unsigned long s, e, len;
		unsigned int flags = 0;
		struct fz_child *c;
		int fd, tmp, pidfd;

		fd = fz_ksm_fd(f, &tmp);
		pidfd = fz_pidfd(f, &c);
		fz_range(f, c, &s, &e);
		len = e - s;
		switch (below(r, 20)) {
		case 0:
			len = 0;
			break;
		case 1:
			len = 1 + below(r, PAGE);
			break;
		case 2:
			len = rnd(r);
			break;
		case 3:
			len = -s;	/* wraps to 0 */
			break;
		}
		if (chance(r, 8))
			flags = chance(r, 50) ? 1U << below(r, 32) : rnd(r);
		if (merge)
			ret = sys_ksm_merge(fd, pidfd, s, len, flags);
		else
			ret = sys_ksm_unmerge(fd, pidfd, s, len, flags);
		err = sys_err(ret);
		snprintf(what, sizeof(what), "fd %d pidfd %d %#lx+%#lx flags %#x",
			 fd, pidfd, s, len, flags);
		if (tmp >= 0)
			close(tmp);
		if (ret >= 0) {
			/* Pages merged: at most those of the range */
			bool ok = merge ? (unsigned long)ret <= len / PAGE + 1 :
					  ret == 0;

			fz_result(f, merge ? FZ_SMERGE : FZ_SUNMERGE, 0, ok, "",
				  0, what);
			return;
		}
		fz_result(f, merge ? FZ_SMERGE : FZ_SUNMERGE, err,
			  documented_errno(err), "", 0, what);
		return;
	}
	/* Close an fd, or duplicate one */
	if (!f->nfds)
		return;
	k = below(r, f->nfds);
	if (chance(r, 20)) {
		int fd = fcntl(f->fds[k], F_DUPFD_CLOEXEC, 0);

		if (fd >= 0)
			fz_fd_add(f, fd);
		return;
	}
	err = close(f->fds[k]) ? errno : 0;
	f->fds[k] = f->fds[--f->nfds];
	fz_result(f, FZ_CLOSE, err, !err, "", 0, "");
}

/*
 * After the fuzz: counters that add up while the children live, zero once
 * they are gone, every partition removable, no process left bound.
 */
static bool fz_health(struct fuzz *f)
{
	char names[64][80], self_part[128] = "-";
	unsigned long pages, items = 0, procs = 0;
	bool ok = false;
	int i, n;

	/* The last child killed has finished exiting */
	fz_reap_zombie(f);
	pages = vm_pages(getpid());
	for (i = 0; i < FZ_CHILDREN; i++)
		pages += vm_pages(f->c[i].p.pid);
	n = list_partitions(names, 64);
	CHECK(n >= 0, "cannot list %s", PARTITIONS);
	ksft_print_msg("fuzz: %d partitions left, %lu pages in the live processes\n",
		       n, pages);
	for (i = 0; i < n; i++) {
		struct counters c = counters_of(names[i]);

		if (c.shared || c.sharing || c.unshared || c.procs)
			ksft_print_msg("fuzz: %s: shared %ld sharing %ld unshared %ld scanned %ld processes %ld\n",
				       names[i], c.shared, c.sharing,
				       c.unshared, c.scanned, c.procs);
		CHECK(c.shared >= 0 && c.sharing >= 0 && c.unshared >= 0 &&
		      c.scanned >= 0 && c.procs >= 0, "%s: unreadable counter",
		      names[i]);
		CHECK((unsigned long)(c.shared + c.sharing + c.unshared) <=
		      pages, "%s: more pages than exist", names[i]);
		CHECK(c.shared || !c.sharing, "%s: sharing without shared",
		      names[i]);
		items += c.shared + c.sharing + c.unshared;
		procs += c.procs;
	}
	CHECK(items <= pages, "%lu pages counted in partitions, %lu exist",
	      items, pages);
	CHECK(procs <= FZ_CHILDREN + 1, "%lu processes bound", procs);

	/* The children exit; ksm fds are closed */
	for (i = 0; i < FZ_CHILDREN; i++)
		proc_stop(&f->c[i].p);
	fz_reap_zombie(f);
	while (f->nfds)
		close(f->fds[--f->nfds]);
	ksm_stat_partition(getpid(), self_part, sizeof(self_part));
	n = list_partitions(names, 64);
	for (i = 0; i < n; i++) {
		struct counters c = counters_of(names[i]);

		if (!strcmp(names[i], self_part)) {
			/* Only the fuzzer itself is left */
			CHECK(c.procs == 1 && (unsigned long)(c.shared +
			      c.sharing + c.unshared) <= vm_pages(getpid()),
			      "%s after the children exit: shared %ld sharing %ld unshared %ld processes %ld",
			      names[i], c.shared, c.sharing, c.unshared,
			      c.procs);
			continue;
		}
		CHECK(!c.shared && !c.sharing && !c.unshared && !c.procs,
		      "%s after the children exit: shared %ld sharing %ld unshared %ld processes %ld",
		      names[i], c.shared, c.sharing, c.unshared,
		      c.procs);
	}
	if (strcmp(self_part, "-"))
		ksft_print_msg("fuzz: the fuzzer itself is bound to %s\n",
			       self_part);
	for (i = 0; i < n; i++)
		CHECK_ERR(part_remove(names[i]), 0);
	CHECK(list_partitions(names, 64) == 0, "%s not empty", PARTITIONS);
	CHECK(no_process_bound(), "processes still bound");
	ok = true;
out:
	return ok;
}

static bool fuzz_ran, fuzz_result_sys;

static bool test_fuzz(void)
{
	struct fuzz *f = calloc(1, sizeof(*f));
	unsigned long op, bad, writes;
	struct fz_child *self;
	double t0 = now();
	bool ok = false;
	int i;

	fuzz_ran = true;
	fuzz_result_sys = false;
	CHECK(f, "calloc");
	rng_init(&f->r, 1);
	for (i = 0; i < FZ_NAMES; i++)
		snprintf(f->names[i], sizeof(f->names[i]), "fz-%d", i);
	f->sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(f->sh != MAP_FAILED, "mmap");
	f->guard = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(f->guard != MAP_FAILED && !munmap(f->guard + PAGE, PAGE),
	      "guard page");
	f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHECK(f->devnull >= 0 && !pipe2(f->pipefd, O_CLOEXEC), "fds");
	f->zombie_pidfd = -1;
	for (i = 0; i < FZ_DEAD; i++)
		f->dead_pidfd[i] = -1;
	/* The fuzzer itself, with a small area of its own */
	self = &f->c[FZ_SELF];
	self->p.pid = getpid();
	self->p.pidfd = sys_pidfd_open(getpid());
	self->p.npages = 16;
	self->p.base = 10;
	self->p.dup = 4;
	self->p.mem = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(self->p.mem != MAP_FAILED, "mmap");
	for (i = 0; i < 16; i++)
		fill_page(self->p.mem + i * PAGE, pattern(&self->p, i));
	for (i = 0; i < FZ_CHILDREN; i++)
		fz_child_start(f, i);
	self->nmaps = read_maps(getpid(), self->maps, FZ_MAPS);

	for (op = 0; op < opts.fuzz_ops; op++) {
		f->op = op;
		if (op % FZ_REPLACE == FZ_REPLACE - 1)
			fz_replace(f);
		if (chance(&f->r, 30))
			fz_syscall_op(f);
		else
			fz_sysfs_op(f);
	}
	bad = __atomic_load_n(&f->sh->bad, __ATOMIC_RELAXED);
	writes = __atomic_load_n(&f->sh->writes, __ATOMIC_RELAXED);
	ksft_print_msg("fuzz: %lu operations in %.1f s (seed %#llx), %lu unexpected sysfs results, %lu unexpected syscall results\n",
		       opts.fuzz_ops, now() - t0, (unsigned long long)opts.seed,
		       f->bad_sysfs, f->bad_sys);
	for (i = 0; i < FZ_NOPS; i++)
		if (f->h[i].ops) {
			char what[64];

			snprintf(what, sizeof(what), "fuzz: %s", fz_op_names[i]);
			hist_print(what, &f->h[i]);
		}
	ksft_print_msg("fuzz: %lu children replaced; writers: %lu writes, %lu found a page not holding their last value\n",
		       opts.fuzz_ops / FZ_REPLACE, writes, bad);
	ksft_print_msg("fuzz: %lu kinds of outcome (an operation and its result), the last one first seen at operation %lu\n",
		       f->classes, f->last_new);
	fuzz_result_sys = !f->bad_sys;
	CHECK(fz_health(f), "the kernel is not healthy after the fuzz");
	fuzz_result_sys = fuzz_result_sys && !bad;
	CHECK(!f->bad_sysfs, "undocumented results");
	CHECK(!bad, "writers lost writes");
	ok = true;
out:
	if (!ok)
		fuzz_result_sys = false;
	if (f && f->sh && f->sh != MAP_FAILED) {
		for (i = 0; i < FZ_CHILDREN; i++)
			proc_stop(&f->c[i].p);
		fz_reap_zombie(f);
		for (i = 0; i < FZ_DEAD; i++)
			if (f->dead_pidfd[i] >= 0)
				close(f->dead_pidfd[i]);
		while (f->nfds)
			close(f->fds[--f->nfds]);
		if (f->c[FZ_SELF].p.pidfd >= 0)
			close(f->c[FZ_SELF].p.pidfd);
		if (f->devnull > 0)
			close(f->devnull);
		if (f->pipefd[0] > 0) {
			close(f->pipefd[0]);
			close(f->pipefd[1]);
		}
		if (f->guard && f->guard != MAP_FAILED)
			munmap(f->guard, PAGE);
		if (f->c[FZ_SELF].p.mem && f->c[FZ_SELF].p.mem != MAP_FAILED)
			munmap(f->c[FZ_SELF].p.mem, 16 * PAGE);
	}
	free(f);
	return ok;
}

/* The syscall half of the fuzz: its result was decided by test_fuzz() */
static bool test_fuzz_syscalls(void)
{
	if (!fuzz_ran)
		test_fuzz();
	return fuzz_result_sys;
}

/* ------------------------------------------------------------------ */
/* 2. Races                                                             */

static bool deadline_passed(double deadline)
{
	return now() >= deadline;
}

/* An fd of partition @name for ksm_merge (root may open any for writing) */
static int part_fd(const char *name)
{
	int fd = sys_ksm_open(name, O_RDWR | KSM_SYNC, 0);

	if (fd < 0)
		ksft_print_msg("ksm_open(%s): %s\n", name, strerror(-fd));
	return fd;
}

/* Tell a target's loop to @stop; whether it is @done within 60 s */
static bool target_stopped(volatile int *stop, volatile int *done)
{
	int i;

	*stop = 1;
	for (i = 0; i < 6000 && !*done; i++)
		usleep(10000);
	return *done;
}

/*
 * The start of a race against the KSM pages of a @peer: partition @name,
 * and the peer, @npages pages from @base (repeating every @dup), merged
 * into it. Returns whether all went well.
 */
static bool race_start(const char *name, struct proc *peer, size_t npages,
		       uint64_t base, size_t dup)
{
	bool ok = false;

	CHECK_ERR(part_add(name), 0);
	CHECK(proc_start(peer, npages, base, dup, 0, NULL, NULL), "start");
	CHECK_ERR(merge_all(name, peer), 0);
	ok = true;
out:
	return ok;
}

/*
 * The end of a race against the KSM pages of a @peer: its exit must leave
 * partition @name empty; then the last file of it (*@fd, closed and set to
 * -1) and its name go. Returns whether all did.
 */
static bool race_end(const char *name, struct proc *peer, int *fd)
{
	bool ok = false;

	proc_stop(peer);
	CHECK_COUNTERS(name, 0, 0, 0, 0);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	CHECK_ERR(part_remove(name), 0);
	ok = true;
out:
	return ok;
}

/* What a race left: @fd, the target @t, the @peer, partition @name */
static void race_cleanup(const char *name, int fd, struct proc *t,
			 struct proc *peer)
{
	if (fd >= 0)
		close(fd);
	proc_stop(t);
	proc_stop(peer);
	part_remove(name);
}

/* -- merge vs target exit ------------------------------------------ */

enum { EXIT_SELF, EXIT_SIGKILL_SELF, EXIT_SIGKILL, EXIT_EXEC, EXIT_MODES };

static const char *const exit_modes[EXIT_MODES] = {
	"exit", "SIGKILL from itself", "SIGKILL from another process", "exec",
};

struct exit_arg {
	int mode;
	unsigned int delay_us;
};

static void exit_body(struct proc *p, void *arg)
{
	struct exit_arg *a = arg;

	(void)p;
	if (a->mode == EXIT_SIGKILL)
		return;
	usleep(a->delay_us);
	switch (a->mode) {
	case EXIT_SELF:
		_exit(0);
	case EXIT_SIGKILL_SELF:
		raise(SIGKILL);
		break;
	case EXIT_EXEC:
		execl("/proc/self/exe", "ksm_partition_stress", "--exit-soon",
		      NULL);
		_exit(1);
	}
}

static bool test_race_exit(void)
{
	const char *p = "rs-exit";
	struct proc peer = { 0 }, c = { 0 };
	unsigned long iters[EXIT_MODES] = { 0 }, merges = 0;
	struct hist h = { 0 };
	double deadline;
	struct rng r;
	bool ok = false;
	int fd = -1, i;

	rng_init(&r, 3);
	c.pidfd = -1;
	/* 16 KSM pages of the peer, which the targets' pages join */
	CHECK(race_start(p, &peer, 128, 1000, 16), "before the race");
	CHECK_COUNTERS(p, 16, 112, 0, 1);
	fd = part_fd(p);
	CHECK(fd >= 0, "ksm_open of %s", p);
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		struct exit_arg a = { below(&r, EXIT_MODES), below(&r, 4000) };
		pid_t killer = 0;
		double t0;
		int err;

		/* Values 1000..1031: half the peer's, half new */
		CHECK(proc_start(&c, 256, 1000, 32, 0, exit_body, &a), "start");
		if (a.mode == EXIT_SIGKILL) {
			killer = fork();
			if (!killer) {
				usleep(a.delay_us);
				kill(c.pid, SIGKILL);
				_exit(0);
			}
		}
		t0 = now();
		do {
			bool sys = fd >= 0 && chance(&r, 50);

			err = range_op(p, sys ? fd : -1, true, &c, 0, c.npages);
			hist_add(&h, err);
			merges += !err;
			CHECK(now() - t0 < 60, "the target does not exit");
		} while (!err);
		/* The exec'd image has no such range: ENOMEM */
		CHECK(err == ESRCH || (a.mode == EXIT_EXEC && err == ENOMEM),
		      "merge while the target exits (%s): %s",
		      exit_modes[a.mode], errname(err));
		if (killer > 0)
			waitpid(killer, NULL, 0);
		proc_stop(&c);
		iters[a.mode]++;
		/* The target's entries are gone: the peer's are left */
		CHECK_COUNTERS(p, 16, 112, 0, 1);
	}
	for (i = 0; i < EXIT_MODES; i++)
		ksft_print_msg("race exit: %lu targets ended by %s\n", iters[i],
			       exit_modes[i]);
	ksft_print_msg("race exit: %lu merges completed before the end\n",
		       merges);
	hist_print("race exit: merges", &h);
	CHECK(race_end(p, &peer, &fd), "after the race");
	ok = true;
out:
	race_cleanup(p, fd, &c, &peer);
	return ok;
}

/* -- merge vs remove_partition -------------------------------------- */

#define RM_PROCS	3

struct rm_worker {
	const char *name;
	struct proc *procs;
	volatile int *stop;
	struct rng r;
	struct hist h;
	unsigned long bad;
	int first_bad;
	pthread_t th;
};

static void *rm_merger(void *arg)
{
	struct rm_worker *w = arg;

	while (!*w->stop) {
		struct proc *p = &w->procs[below(&w->r, RM_PROCS)];
		size_t a = 0, b = p->npages;
		int err;

		if (chance(&w->r, 30)) {
			a = below(&w->r, p->npages);
			b = a + 1 + below(&w->r, p->npages - a);
		}
		err = range_op(w->name, -1, chance(&w->r, 80), p, a, b);
		hist_add(&w->h, err);
		/*
		 * ENOENT: the partition is gone, or dying. ENODEV: kernfs
		 * says the file was removed after our open().
		 */
		if (err && err != ENOENT && err != ENODEV) {
			if (!w->bad++)
				w->first_bad = err;
		}
	}
	return NULL;
}

static bool test_race_remove(void)
{
	const char *p = "rs-remove";
	struct proc procs[RM_PROCS] = { 0 };
	struct rm_worker w[2];
	volatile int stop = 0;
	unsigned long cycles = 0, bad = 0;
	double deadline, longest = 0;
	struct hist h = { 0 };
	int nthreads = 0, i;
	struct rng r;
	bool ok = false;

	rng_init(&r, 4);
	for (i = 0; i < RM_PROCS; i++)
		CHECK(proc_start(&procs[i], 128, 2000, 16, 0, NULL, NULL),
		      "start");
	for (i = 0; i < 2; i++) {
		w[i] = (struct rm_worker){ .name = p, .procs = procs,
					   .stop = &stop };
		rng_init(&w[i].r, 40 + i);
		CHECK(!pthread_create(&w[i].th, NULL, rm_merger, &w[i]),
		      "thread");
		nthreads++;
	}
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		double t0;

		CHECK_ERR(part_add(p), 0);
		usleep(below(&r, 20000));
		t0 = now();
		CHECK_ERR(part_remove(p), 0);
		if (now() - t0 > longest)
			longest = now() - t0;
		/* Removed: nothing can be bound to it any more */
		for (i = 0; i < RM_PROCS; i++)
			CHECK(unbound(procs[i].pid),
			      "bound after remove_partition returned");
		cycles++;
	}
	ok = true;
out:
	stop = 1;
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		hist_sum(&h, &w[i].h);
		bad += w[i].bad;
		if (w[i].bad)
			ksft_print_msg("race remove: unexpected %s from a merger\n",
				       errname(w[i].first_bad));
	}
	ksft_print_msg("race remove: %lu add/remove cycles, longest removal %.3f s\n",
		       cycles, longest);
	hist_print("race remove: merges and unmerges", &h);
	if (ok) {
		ok = false;
		CHECK(!bad, "%lu unexpected errors", bad);
		/* Still healthy: exact counters, then a clean removal */
		CHECK_ERR(part_add(p), 0);
		for (i = 0; i < RM_PROCS; i++)
			CHECK_ERR(merge_all(p, &procs[i]), 0);
		CHECK_COUNTERS(p, 16, RM_PROCS * 128 - 16, 0, RM_PROCS);
		CHECK_ERR(part_remove(p), 0);
		for (i = 0; i < RM_PROCS; i++)
			CHECK(unbound(procs[i].pid), "bound after removal");
		ok = true;
	}
	for (i = 0; i < RM_PROCS; i++)
		proc_stop(&procs[i]);
	part_remove(p);
	return ok;
}

/* -- ksm_merge vs ksm_unlink and the last close --------------------- */

struct fd_worker {
	int fd;
	bool closes;	/* closes its own fd, after some calls */
	bool started;
	struct proc *procs;
	volatile int *stop;
	struct rng r;
	struct hist h;
	unsigned long bad, calls;
	int first_bad;
	pthread_t th;
};

static void *fd_merger(void *arg)
{
	struct fd_worker *w = arg;
	unsigned long limit = w->closes ? 1 + below(&w->r, 30) : ULONG_MAX;

	while (!*w->stop && w->calls < limit) {
		struct proc *p = &w->procs[below(&w->r, RM_PROCS)];
		int err;

		err = range_op(NULL, w->fd, chance(&w->r, 80), p, 0,
			       p->npages);
		hist_add(&w->h, err);
		w->calls++;
		if (err == EBADF)	/* the fd was closed */
			break;
		if (err && err != ENOENT && !w->bad++)
			w->first_bad = err;
	}
	if (w->closes)
		close(w->fd);
	return NULL;
}

static bool test_race_fd(void)
{
	const char *p = "rs-fd";
	struct proc procs[RM_PROCS] = { 0 };
	unsigned long cycles[3] = { 0 }, bad = 0;
	struct hist h = { 0 };
	volatile int stop;
	double deadline;
	struct rng r;
	bool ok = false;
	int i;

	rng_init(&r, 5);
	for (i = 0; i < RM_PROCS; i++)
		CHECK(proc_start(&procs[i], 128, 3000, 16, 0, NULL, NULL),
		      "start");
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		int mode = below(&r, 3), unlinked;
		struct fd_worker w[2];
		bool started = true;
		long fd, dup;

		fd = sys_ksm_open(p, KSM_CREAT | KSM_EXCL | O_RDWR | KSM_SYNC,
				  0600);
		CHECK(fd >= 0, "ksm_open: %s", strerror(-fd));
		dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		CHECK(dup >= 0, "dup");
		stop = 0;
		for (i = 0; i < 2; i++) {
			/* Mode 2: the second thread's close is the last */
			w[i] = (struct fd_worker){
				.fd = i ? dup : fd, .closes = i && mode == 2,
				.procs = procs, .stop = &stop,
			};
			rng_init(&w[i].r, rnd(&r));
			w[i].started = !pthread_create(&w[i].th, NULL,
						       fd_merger, &w[i]);
			started = started && w[i].started;
		}
		if (!w[1].started && mode == 2)
			close(dup);
		usleep(below(&r, 5000));
		if (mode == 1) {	/* closed first, then unlinked */
			close(fd);
			close(dup);
			unlinked = sys_err(sys_ksm_unlink(p));
		} else {
			unlinked = sys_err(sys_ksm_unlink(p));
			usleep(below(&r, 2000));
			close(fd);
			if (mode == 0)
				close(dup);
		}
		stop = 1;
		for (i = 0; i < 2; i++) {
			if (!w[i].started)
				continue;
			pthread_join(w[i].th, NULL);
			hist_sum(&h, &w[i].h);
			bad += w[i].bad;
			if (w[i].bad)
				ksft_print_msg("race fd: unexpected %s\n",
					       errname(w[i].first_bad));
		}
		CHECK(!unlinked, "ksm_unlink: %s", errname(unlinked));
		CHECK(started, "threads");
		/* Unlinked and closed: gone, its processes unbound */
		CHECK(!part_exists(p), "%s still in sysfs", p);
		CHECK_ERR(sys_ksm_open(p, O_RDWR | KSM_SYNC, 0), -ENOENT);
		for (i = 0; i < RM_PROCS; i++)
			CHECK(unbound(procs[i].pid), "bound after the last close");
		cycles[mode]++;
	}
	ksft_print_msg("race fd: %lu cycles unlink then close, %lu close then unlink, %lu unlink then a merging thread closes the last fd\n",
		       cycles[0], cycles[1], cycles[2]);
	hist_print("race fd: ksm_merge and ksm_unmerge", &h);
	CHECK(!bad, "%lu unexpected errors", bad);
	ok = true;
out:
	for (i = 0; i < RM_PROCS; i++)
		proc_stop(&procs[i]);
	sys_ksm_unlink(p);
	return ok;
}

/* -- merge vs munmap, mremap, fork ---------------------------------- */

#define VMA_PAGES	64
#define VMA_CHUNK	8

enum {
	VMA_MUNMAP, VMA_MAP_FIXED, VMA_MREMAP, VMA_FORK, VMA_DONTNEED,
	VMA_MPROTECT, VMA_WRITE, VMA_OPS,
};

static const char *const vma_ops[VMA_OPS] = {
	"munmap+mmap", "mmap MAP_FIXED", "mremap away and back", "fork",
	"MADV_DONTNEED", "mprotect", "write",
};

#define VMA_LOG		8

struct vma_shared {
	unsigned long scratch;	/* where mremap moves chunks */
	volatile int stop, done;
	unsigned long bad, ops[VMA_OPS], bad_ops[VMA_OPS], mremap_efault;
	struct {		/* the first failures */
		int op, err;
		size_t at, k, page;
		uint64_t want, found[2];
	} log[VMA_LOG];
};

/* The first page of [from, to) not holding its value, or @to */
static size_t vma_check(struct proc *p, const uint64_t *want, size_t from,
			size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		if (!page_holds(p->mem + i * PAGE, want[i]))
			return i;
	return to;
}

static void vma_refill(struct proc *p, uint64_t *want, struct rng *r,
		       size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		want[i] = p->base + below(r, 16);
		fill_page(p->mem + i * PAGE, want[i]);
	}
}

/* The target: changes its own mappings in a loop, checking its data */
static void vma_body(struct proc *p, void *arg)
{
	struct vma_shared *sh = arg;
	uint64_t want[VMA_PAGES];
	struct rng r = { (uint64_t)getpid() };
	char *scratch;
	size_t i;

	scratch = mmap(NULL, VMA_CHUNK * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED)
		_exit(1);
	sh->scratch = (unsigned long)scratch;
	for (i = 0; i < VMA_PAGES; i++)
		want[i] = pattern(p, i);
	while (!sh->stop) {
		int op = below(&r, VMA_OPS);
		size_t k = 1 + below(&r, VMA_CHUNK);
		size_t at = below(&r, VMA_PAGES - k + 1);
		char *a = p->mem + at * PAGE;
		bool ok = true;
		pid_t pid;

		switch (op) {
		case VMA_MUNMAP:
			ok = !munmap(a, k * PAGE);
			usleep(below(&r, 500));
			/* and map it again */
			__attribute__((__fallthrough__));
		case VMA_MAP_FIXED:
			ok = ok && mmap(a, k * PAGE, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
					-1, 0) == a;
			if (ok)
				vma_refill(p, want, &r, at, at + k);
			break;
		case VMA_MREMAP:
			ok = mremap(a, k * PAGE, k * PAGE,
				    MREMAP_MAYMOVE | MREMAP_FIXED,
				    scratch) == scratch;
			/* Across vmas (merges split them): move one page */
			if (!ok && errno == EFAULT) {
				sh->mremap_efault++;
				k = 1;
				ok = mremap(a, PAGE, PAGE,
					    MREMAP_MAYMOVE | MREMAP_FIXED,
					    scratch) == scratch;
			}
			for (i = 0; ok && i < k; i++)
				ok = page_holds(scratch + i * PAGE,
						want[at + i]);
			usleep(below(&r, 500));
			ok = ok && mremap(scratch, k * PAGE, k * PAGE,
					  MREMAP_MAYMOVE | MREMAP_FIXED,
					  a) == a;
			break;
		case VMA_FORK:
			pid = fork();
			if (!pid) {
				/* Its write copies: its data is its own */
				fill_page(a, want[at] + 1);
				_exit(page_holds(a, want[at] + 1) &&
				      (k < 2 || page_holds(a + PAGE,
							   want[at + 1])) ?
				      0 : 1);
			}
			ok = pid > 0;
			if (ok) {
				int status;

				ok = waitpid(pid, &status, 0) == pid &&
				     WIFEXITED(status) && !WEXITSTATUS(status);
			}
			break;
		case VMA_DONTNEED:
			ok = !madvise(a, k * PAGE, MADV_DONTNEED);
			vma_refill(p, want, &r, at, at + k);
			break;
		case VMA_MPROTECT:
			ok = !mprotect(a, k * PAGE, PROT_READ);
			usleep(below(&r, 500));
			ok = ok && !mprotect(a, k * PAGE,
					     PROT_READ | PROT_WRITE);
			break;
		default:
			vma_refill(p, want, &r, at, at + 1);
			break;
		}
		i = ok ? vma_check(p, want, at, at + k) : at;
		if (!ok || i < at + k) {
			if (sh->bad < VMA_LOG) {
				uint64_t *w = (uint64_t *)(p->mem + i * PAGE);

				sh->log[sh->bad].op = op;
				sh->log[sh->bad].err = ok ? 0 : errno;
				sh->log[sh->bad].at = at;
				sh->log[sh->bad].k = k;
				sh->log[sh->bad].page = i;
				sh->log[sh->bad].want = want[i];
				sh->log[sh->bad].found[0] = w[0];
				sh->log[sh->bad].found[1] = w[1];
			}
			sh->bad++;
			sh->bad_ops[op]++;
		}
		sh->ops[op]++;
	}
	if (vma_check(p, want, 0, VMA_PAGES) < VMA_PAGES)
		sh->bad++;
	sh->done = 1;
}

static bool test_race_vma(void)
{
	const char *p = "rs-vma";
	struct proc peer = { 0 }, t = { 0 };
	struct vma_shared *sh;
	struct hist h = { 0 };
	unsigned long bad = 0;
	double deadline;
	int fd = -1, i;
	struct rng r;
	bool ok = false;

	rng_init(&r, 6);
	t.pidfd = -1;
	sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap");
	CHECK(race_start(p, &peer, VMA_PAGES, 4000, 16), "before the race");
	CHECK_COUNTERS(p, 16, VMA_PAGES - 16, 0, 1);
	CHECK(proc_start(&t, VMA_PAGES, 4000, 16, 0, vma_body, sh), "start");
	fd = part_fd(p);
	CHECK(fd >= 0, "ksm_open of %s", p);
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		bool sys = fd >= 0 && chance(&r, 50);
		unsigned int k = below(&r, 100);
		int err;

		if (k < 60) {
			err = range_op(p, sys ? fd : -1, true, &t, 0,
				       VMA_PAGES);
		} else if (k < 80) {
			size_t a = below(&r, VMA_PAGES);

			err = range_op(p, sys ? fd : -1, chance(&r, 50), &t, a,
				       a + 1 + below(&r, VMA_PAGES - a));
		} else if (k < 90 && sh->scratch) {
			/* Where the chunks go while moved */
			err = -part_range(p, "merge", t.pid, sh->scratch,
					  sh->scratch + VMA_CHUNK * PAGE);
		} else {
			err = range_op(p, sys ? fd : -1, false, &t, 0,
				       VMA_PAGES);
		}
		hist_add(&h, err);
		/* ENOMEM: a hole in the range, while munmapped or moved */
		if (err && err != ENOMEM)
			bad++;
	}
	CHECK(target_stopped(&sh->stop, &sh->done), "the target does not stop");
	for (i = 0; i < VMA_OPS; i++)
		ksft_print_msg("race vma: target did %lu %s, %lu with bad data after\n",
			       sh->ops[i], vma_ops[i], sh->bad_ops[i]);
	ksft_print_msg("race vma: %lu chunks spanned several vmas (mremap: EFAULT), one page moved instead\n",
		       sh->mremap_efault);
	for (i = 0; i < VMA_LOG && i < (int)sh->bad; i++) {
		unsigned long long want = sh->log[i].want * 1000003ULL;

		ksft_print_msg("race vma: after %s of pages %zu-%zu (%s): page %zu holds %#llx %#llx, expected value %llu (%#llx %#llx)\n",
			       vma_ops[sh->log[i].op], sh->log[i].at,
			       sh->log[i].at + sh->log[i].k - 1,
			       errname(sh->log[i].err), sh->log[i].page,
			       (unsigned long long)sh->log[i].found[0],
			       (unsigned long long)sh->log[i].found[1],
			       (unsigned long long)sh->log[i].want, want + 1,
			       want + 2);
	}
	hist_print("race vma: merges and unmerges", &h);
	CHECK(!sh->bad, "%lu times the target's pages did not hold its data",
	      sh->bad);
	CHECK(!bad, "%lu unexpected errors", bad);
	/* The target leaves: only the peer's entries are left */
	proc_stop(&t);
	CHECK_COUNTERS(p, 16, VMA_PAGES - 16, 0, 1);
	CHECK(race_end(p, &peer, &fd), "after the race");
	ok = true;
out:
	race_cleanup(p, fd, &t, &peer);
	if (sh != MAP_FAILED)
		munmap(sh, PAGE);
	return ok;
}

/* -- two partitions at once ----------------------------------------- */

#define ISO_PROCS	3
#define ISO_PAGES	128

/*
 * Merges and unmerges hold it for reading, the pagemap sampler for writing:
 * a sample is a consistent snapshot between operations. Without it, a page
 * freed by one partition's unmerge and reused at once by the other's
 * copy-on-write would look shared.
 */
static pthread_rwlock_t iso_lock;

struct iso_worker {
	const char *name;
	struct proc procs[ISO_PROCS];
	volatile int *stop;
	int fd;
	struct rng r;
	struct hist h;
	unsigned long bad;
	int first_bad;
	pthread_t th;
};

static void *iso_merger(void *arg)
{
	struct iso_worker *w = arg;

	while (!*w->stop) {
		struct proc *p = &w->procs[below(&w->r, ISO_PROCS)];
		int fd = w->fd >= 0 && chance(&w->r, 50) ? w->fd : -1;
		unsigned int k = below(&w->r, 100);
		size_t a = below(&w->r, ISO_PAGES);
		size_t b = a + 1 + below(&w->r, ISO_PAGES - a);
		int err;

		pthread_rwlock_rdlock(&iso_lock);
		if (k < 50)
			err = range_op(w->name, fd, true, p, 0, ISO_PAGES);
		else if (k < 70)
			err = range_op(w->name, fd, true, p, a, b);
		else if (k < 90)
			err = range_op(w->name, fd, false, p, a, b);
		else
			err = range_op(w->name, fd, false, p, 0, ISO_PAGES);
		pthread_rwlock_unlock(&iso_lock);
		hist_add(&w->h, err);
		if (err && !w->bad++)
			w->first_bad = err;
	}
	return NULL;
}

/*
 * The PFNs of all pages of a worker's processes: in @raw by process and
 * page, sorted in @pfns
 */
static size_t iso_pfns(struct iso_worker *w, uint64_t *raw, uint64_t *pfns)
{
	size_t i, n = 0;

	for (i = 0; i < ISO_PROCS; i++) {
		if (!pfns_of(w->procs[i].pid, addr_of(&w->procs[i], 0),
			     ISO_PAGES, raw + n))
			return 0;
		n += ISO_PAGES;
	}
	memcpy(pfns, raw, n * sizeof(*pfns));
	qsort(pfns, n, sizeof(*pfns), cmp_u64);
	return n;
}

/* /proc/kpageflags of a frame */
static uint64_t kpageflags(uint64_t pfn)
{
	uint64_t flags = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &flags, sizeof(flags), pfn * sizeof(flags)) !=
	    sizeof(flags))
		flags = 0;
	close(fd);
	return flags;
}

/* Where a frame shared across is mapped, for the log */
static void iso_report(struct iso_worker *w,
		       uint64_t (*raw)[ISO_PROCS * ISO_PAGES], uint64_t pfn)
{
	uint64_t flags = kpageflags(pfn);
	size_t i, j;

	ksft_print_msg("race isolation: pfn %#llx (kpageflags %#llx: %s) is mapped by\n",
		       (unsigned long long)pfn, (unsigned long long)flags,
		       flags & (1ULL << 21) ? "KSM" : "not KSM");
	for (i = 0; i < 2; i++)
		for (j = 0; j < ISO_PROCS * ISO_PAGES; j++)
			if (raw[i][j] == pfn)
				ksft_print_msg("  %s: pid %d page %zu\n",
					       w[i].name,
					       w[i].procs[j / ISO_PAGES].pid,
					       j % ISO_PAGES);
}

/* Frames (non-zero PFNs) in both sorted arrays; the first in *@first */
static size_t common_frames(const uint64_t *a, const uint64_t *b, size_t n,
			    uint64_t *first)
{
	size_t i = 0, j = 0, common = 0;

	while (i < n && j < n) {
		if (a[i] == b[j]) {
			if (a[i] && !common++)
				*first = a[i];
			i++;
			j++;
		} else if (a[i] < b[j]) {
			i++;
		} else {
			j++;
		}
	}
	return common;
}

static size_t distinct(const uint64_t *v, size_t n)
{
	size_t i, d = n ? 1 : 0;

	for (i = 1; i < n; i++)
		d += v[i] != v[i - 1];
	return d;
}

static bool test_race_isolation(void)
{
	static const char *const names[2] = { "rs-iso1", "rs-iso2" };
	const size_t n = ISO_PROCS * ISO_PAGES;
	uint64_t *pfns[2] = { calloc(n, 8), calloc(n, 8) }, first = 0;
	uint64_t (*raw)[ISO_PROCS * ISO_PAGES] = calloc(2, sizeof(*raw));
	struct iso_worker *w = calloc(2, sizeof(*w));
	int writer_first = PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
	unsigned long samples = 0, shared_seen = 0;
	pthread_rwlockattr_t attr;
	volatile int stop = 0;
	int nthreads = 0;
	double deadline;
	bool ok = false;
	size_t i, j;

	CHECK(pfns[0] && pfns[1] && raw && w, "calloc");
	w[0].fd = w[1].fd = -1;
	pthread_rwlockattr_init(&attr);
	/* The sampler must not starve behind two readers */
	pthread_rwlockattr_setkind_np(&attr, writer_first);
	pthread_rwlock_init(&iso_lock, &attr);
	for (i = 0; i < 2; i++) {
		CHECK_ERR(part_add(names[i]), 0);
		w[i].name = names[i];
		w[i].stop = &stop;
		rng_init(&w[i].r, 70 + i);
		/* The same contents everywhere: 32 values */
		for (j = 0; j < ISO_PROCS; j++)
			CHECK(proc_start(&w[i].procs[j], ISO_PAGES, 5000, 32, 0,
					 NULL, NULL), "start");
	}
	/* Files after the processes, which would inherit them otherwise */
	for (i = 0; i < 2; i++) {
		w[i].fd = part_fd(names[i]);
		CHECK(w[i].fd >= 0, "ksm_open of %s",
		      names[i]);
	}
	for (i = 0; i < 2; i++) {
		CHECK(!pthread_create(&w[i].th, NULL, iso_merger, &w[i]),
		      "thread");
		nthreads++;
	}
	/* Meanwhile, frames must never be shared across, even for a moment */
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		size_t common;

		pthread_rwlock_wrlock(&iso_lock);
		if (iso_pfns(&w[0], raw[0], pfns[0]) != n ||
		    iso_pfns(&w[1], raw[1], pfns[1]) != n) {
			pthread_rwlock_unlock(&iso_lock);
			CHECK(false, "pagemap");
		}
		common = common_frames(pfns[0], pfns[1], n, &first);
		if (common && !shared_seen)
			iso_report(w, raw, first);
		pthread_rwlock_unlock(&iso_lock);
		shared_seen += common;
		samples++;
		usleep(5000);
	}
	ok = true;
out:
	stop = 1;
	for (i = 0; i < (size_t)nthreads; i++)
		pthread_join(w[i].th, NULL);
	if (ok) {
		ok = false;
		ksft_print_msg("race isolation: %lu pagemap samples during the race, %lu frames seen shared across\n",
			       samples, shared_seen);
		CHECK(!shared_seen, "frames shared across partitions");
		for (i = 0; i < 2; i++) {
			char what[64];

			snprintf(what, sizeof(what), "race isolation: %s",
				 names[i]);
			hist_print(what, &w[i].h);
			CHECK(!w[i].bad, "%s: %lu errors, the first %s",
			      names[i], w[i].bad, errname(w[i].first_bad));
		}
		/* Merge everything once more: each partition is exact */
		for (i = 0; i < 2; i++) {
			for (j = 0; j < ISO_PROCS; j++) {
				struct proc *p = &w[i].procs[j];

				CHECK_ERR(merge_all(names[i], p), 0);
			}
		}
		for (i = 0; i < 2; i++) {
			CHECK(iso_pfns(&w[i], raw[i], pfns[i]) == n, "pfns");
			CHECK(pfns[i][0], "a page is not present");
			ksft_print_msg("race isolation: %s: %zu pages in %zu frames\n",
				       names[i], n, distinct(pfns[i], n));
			CHECK(distinct(pfns[i], n) == 32, "%s: %zu frames",
			      names[i], distinct(pfns[i], n));
			CHECK_COUNTERS(names[i], 32, n - 32, 0, ISO_PROCS);
		}
		/* No frame in both */
		if (common_frames(pfns[0], pfns[1], n, &first))
			iso_report(w, raw, first);
		CHECK(!common_frames(pfns[0], pfns[1], n, &first),
		      "%zu frames shared across the partitions",
		      common_frames(pfns[0], pfns[1], n, &first));
		/* The name goes first; the last file then ends the partition */
		for (i = 0; i < 2; i++) {
			CHECK_ERR(part_remove(names[i]), 0);
			if (w[i].fd >= 0)
				close(w[i].fd);
			w[i].fd = -1;
			for (j = 0; j < ISO_PROCS; j++)
				CHECK(unbound(w[i].procs[j].pid), "bound");
		}
		ok = true;
	}
	if (w) {
		for (i = 0; i < 2; i++) {
			for (j = 0; j < ISO_PROCS; j++)
				proc_stop(&w[i].procs[j]);
			if (w[i].fd >= 0)
				close(w[i].fd);
			part_remove(names[i]);
		}
	}
	free(w);
	free(raw);
	free(pfns[0]);
	free(pfns[1]);
	return ok;
}

/* -- merge vs writers ------------------------------------------------ */

#define WR_PAGES	256
#define WR_THREADS	2

struct wr_shared {
	volatile int stop, done;
	unsigned long writes, checks, bad, bad_final;
};

struct wr_thread {
	char *mem;
	uint64_t *last;
	struct wr_shared *sh;
	int id;
};

static void *wr_writer(void *arg)
{
	struct wr_thread *t = arg;
	unsigned long k, writes = 0, bad = 0;

	for (k = 0; !t->sh->stop; k++) {
		size_t i;

		for (i = t->id; i < WR_PAGES; i += WR_THREADS) {
			/* 3 values: duplicates; never the one already there */
			uint64_t v = (k + i) % 3;
			char *page = t->mem + i * PAGE;

			if (k && !page_holds(page, t->last[i]))
				bad++;
			fill_page(page, v);
			t->last[i] = v;
			writes++;
		}
	}
	__atomic_add_fetch(&t->sh->writes, writes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->sh->bad, bad, __ATOMIC_RELAXED);
	return NULL;
}

static void wr_body(struct proc *p, void *arg)
{
	struct wr_shared *sh = arg;
	static uint64_t last[WR_PAGES];
	struct wr_thread t[WR_THREADS];
	pthread_t th[WR_THREADS];
	size_t i;

	for (i = 0; i < WR_THREADS; i++) {
		t[i] = (struct wr_thread){ p->mem, last, sh, (int)i };
		if (pthread_create(&th[i], NULL, wr_writer, &t[i]))
			_exit(1);
	}
	for (i = 0; i < WR_THREADS; i++)
		pthread_join(th[i], NULL);
	/* Each page holds the last value written to it */
	for (i = 0; i < WR_PAGES; i++)
		if (!page_holds(p->mem + i * PAGE, last[i]))
			sh->bad_final++;
	sh->done = 1;
}

static bool test_race_writer(void)
{
	const char *p = "rs-writer";
	struct proc peer = { 0 }, t = { 0 };
	unsigned long merged = 0;
	struct wr_shared *sh;
	struct hist h = { 0 };
	unsigned long bad = 0;
	double deadline;
	int fd = -1;
	struct rng r;
	bool ok = false;

	rng_init(&r, 8);
	t.pidfd = -1;
	sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap");
	/* A peer holding the 3 values: stable tree hits */
	CHECK(race_start(p, &peer, 3, 0, 0), "before the race");
	/* Pages 0, 1, 2, ...: the values the writers start with */
	CHECK(proc_start(&t, WR_PAGES, 0, 3, 0, wr_body, sh), "start");
	fd = part_fd(p);
	CHECK(fd >= 0, "ksm_open of %s", p);
	deadline = now() + opts.race_secs;
	while (!deadline_passed(deadline)) {
		bool sys = fd >= 0 && chance(&r, 50);
		unsigned int k = below(&r, 100);
		size_t a = below(&r, WR_PAGES);
		size_t b = a + 1 + below(&r, WR_PAGES - a);
		int err;

		if (k < 70)
			err = range_op(p, sys ? fd : -1, true, &t, 0, WR_PAGES);
		else if (k < 85)
			err = range_op(p, sys ? fd : -1, true, &t, a, b);
		else
			err = range_op(p, sys ? fd : -1, false, &t, a, b);
		hist_add(&h, err);
		if (err)
			bad++;
		else if (k < 85)
			merged++;
	}
	CHECK(target_stopped(&sh->stop, &sh->done), "the writers do not stop");
	ksft_print_msg("race writer: %lu writes, %lu merges; %lu times a page did not hold the last value written, %lu pages at the end\n",
		       sh->writes, merged, sh->bad, sh->bad_final);
	hist_print("race writer: merges and unmerges", &h);
	CHECK(!bad, "%lu merge errors", bad);
	CHECK(!sh->bad && !sh->bad_final, "lost writes");
	/* The quiet range merges; the target's exit leaves the peer's */
	CHECK_ERR(merge_all(p, &t), 0);
	CHECK(counter(p, "pages_shared") > 0, "nothing merged");
	proc_stop(&t);
	CHECK(counter(p, "pages_shared") + counter(p, "pages_unshared") == 3 &&
	      counter(p, "pages_sharing") == 0 &&
	      counter(p, "merged_processes") == 1,
	      "counters after the writer's exit");
	CHECK(race_end(p, &peer, &fd), "after the race");
	ok = true;
out:
	race_cleanup(p, fd, &t, &peer);
	if (sh != MAP_FAILED)
		munmap(sh, PAGE);
	return ok;
}

/* ------------------------------------------------------------------ */
/* 3. A large range, its merger killed                                  */

static unsigned long mem_available_kb(void)
{
	unsigned long kb = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Mostly duplicates: 60 values repeated, and every 16th page unique */
static void large_body(struct proc *p, void *arg)
{
	int *ready = arg;
	size_t i;
	char c = 1;

	for (i = 0; i < p->npages; i++) {
		uint64_t *w = (uint64_t *)(p->mem + i * PAGE);

		w[0] = i % 16 ? i % 64 + 1 : 1000 + i;
		w[1] = 0x5ca1ab1e;
	}
	if (write(ready[1], &c, 1) != 1)
		_exit(1);
}

static bool test_large_kill(void)
{
	const char *p = "rs-large";
	struct proc t = { 0 };
	unsigned long kb = mem_available_kb();
	size_t n = kb / 100 * opts.large_pct / 4 & ~511UL;
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	long mps = read_counter(KSM_SYSFS_DIR "/max_page_sharing"), nodes;
	double t0, fill, killed, merge, exit_time, step;
	pid_t merger = 0;
	int status = 0;
	bool ok = false;
	long s, g, u;
	char c;

	t.pidfd = -1;
	CHECK(n >= 1024, "MemAvailable %lu kB", kb);
	CHECK(!pipe2(ready, O_CLOEXEC) && !pipe2(go, O_CLOEXEC), "pipe");
	CHECK_ERR(part_add(p), 0);
	t0 = now();
	/* Not proc_start(): the child fills only two words per page */
	t.npages = n;
	t.mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(t.mem != MAP_FAILED, "mmap %zu MiB", n / 256);
	fflush(stdout);
	t.pid = fork();
	CHECK(t.pid >= 0, "fork");
	if (!t.pid) {
		large_body(&t, ready);
		for (;;)
			pause();
	}
	munmap(t.mem, n * PAGE);
	t.pidfd = sys_pidfd_open(t.pid);
	CHECK(read(ready[0], &c, 1) == 1, "the target did not fill its area");
	fill = now() - t0;
	ksft_print_msg("large: %zu MiB (%u%% of MemAvailable %lu MiB) filled in %.1f s\n",
		       n / 256, opts.large_pct, kb / 1024, fill);

	merger = fork();
	CHECK(merger >= 0, "fork");
	if (!merger) {
		c = 1;
		if (write(go[1], &c, 1) != 1)
			_exit(1);
		_exit(-merge_all(p, &t));
	}
	CHECK(read(go[0], &c, 1) == 1, "merger");
	usleep(700000);
	killed = now();
	kill(merger, SIGKILL);
	CHECK(waitpid(merger, &status, 0) == merger, "waitpid");
	exit_time = now() - killed;
	merger = 0;
	step = clock_step();
	ksft_print_msg("large: merger %s; %s%.1f ms from SIGKILL to waitpid (limit %.1f s)\n",
		       WIFSIGNALED(status) ? "killed" :
		       "done before the kill (nothing interrupted)",
		       exit_time < step ? "under one clock step, " : "",
		       (exit_time < step ? step : exit_time) * 1000,
		       opts.kill_limit);
	CHECK(exit_time <= opts.kill_limit, "the killed merger took %.3f s",
	      exit_time);

	/* What the killed merge did is counted, and adds up */
	s = counter(p, "pages_shared");
	g = counter(p, "pages_sharing");
	u = counter(p, "pages_unshared");
	ksft_print_msg("large: after the kill: shared %ld sharing %ld unshared %ld scanned %ld processes %ld\n",
		       s, g, u, counter(p, "pages_scanned"),
		       counter(p, "merged_processes"));
	CHECK(s >= 0 && g >= 0 && u >= 0 && (size_t)(s + g + u) <= n &&
	      counter(p, "pages_scanned") <= (long)n &&
	      counter(p, "merged_processes") == 1, "counters after the kill");

	/* A fresh merge of the whole range completes, exactly */
	t0 = now();
	CHECK_ERR(merge_all(p, &t), 0);
	merge = now() - t0;
	ksft_print_msg("large: a full merge of the range took %.1f s\n", merge);
	/* 60 values, n / 64 copies each: max_page_sharing per KSM page */
	CHECK(mps >= 2, "max_page_sharing %ld", mps);
	nodes = 60 * ((n / 64 + mps - 1) / mps);
	CHECK_COUNTERS(p, nodes, n - n / 16 - nodes, n / 16, 1);
	t0 = now();
	proc_stop(&t);
	ksft_print_msg("large: the target's exit took %.2f s\n", now() - t0);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK_ERR(part_remove(p), 0);
	ok = true;
out:
	if (merger > 0) {
		kill(merger, SIGKILL);
		waitpid(merger, NULL, 0);
	}
	proc_stop(&t);
	part_remove(p);
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	return ok;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "fuzz: sysfs files, then the kernel is healthy", test_fuzz },
	{ "fuzz: ksm_open, ksm_unlink, ksm_merge, ksm_unmerge",
	  test_fuzz_syscalls },
	{ "race: merge vs target exit and SIGKILL", test_race_exit },
	{ "race: merge vs remove_partition", test_race_remove },
	{ "race: ksm_merge vs ksm_unlink and the last close", test_race_fd },
	{ "race: merge vs munmap, mremap and fork in the target",
	  test_race_vma },
	{ "race: two partitions merge at once, no frame shared across",
	  test_race_isolation },
	{ "race: merge vs writers, no lost write", test_race_writer },
	{ "large range: a killed merger exits promptly, partition consistent",
	  test_large_kill },
};

static void watchdog(int sig)
{
	char msg[256];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg),
		     "# watchdog: \"%s\" still running after %u s\nBail out!\n",
		     current_test, opts.watchdog);
	if (write(STDOUT_FILENO, msg, n) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-i OPS] [-s SECONDS] [-r SEED] [-m PERCENT] [-k SECONDS] [-w SECONDS] [FILTER]\n",
		prog);
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	size_t i, n = sizeof(tests) / sizeof(tests[0]);
	const char *filter = NULL;
	bool seeded = false;
	int opt;

	if (argc > 1 && !strcmp(argv[1], "--exit-soon")) {
		/* The exec'd image of the exit race */
		usleep(20000);
		return 0;
	}
	while ((opt = getopt(argc, argv, "i:s:r:m:k:w:h")) != -1) {
		switch (opt) {
		case 'i':
			opts.fuzz_ops = strtoul(optarg, NULL, 0);
			break;
		case 's':
			opts.race_secs = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			opts.seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'm':
			opts.large_pct = strtoul(optarg, NULL, 0);
			break;
		case 'k':
			opts.kill_limit = strtod(optarg, NULL);
			break;
		case 'w':
			opts.watchdog = strtoul(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind < argc)
		filter = argv[optind];
	if (!seeded)
		opts.seed = (uint64_t)time(NULL) * 1000003 ^ getpid();
	if (opts.large_pct < 1 || opts.large_pct > 90)
		usage(argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	ksft_print_header();
	ksft_set_plan(n);
	require_partitions();
	ksft_print_msg("seed %#llx (-r to replay); -i %lu -s %u -m %u -k %.1f\n",
		       (unsigned long long)opts.seed, opts.fuzz_ops,
		       opts.race_secs, opts.large_pct, opts.kill_limit);
	/* A NULL name: EFAULT with the syscalls, ENOSYS without */
	if (sys_ksm_open(NULL, 0, 0) == -ENOSYS)
		ksft_exit_fail_msg("kernel without the ksm_* syscalls (ENOSYS)\n");

	for (i = 0; i < n; i++) {
		double t0 = now();
		bool ok;

		if (filter && !strstr(tests[i].name, filter)) {
			ksft_test_result_skip("%s (not selected)\n",
					      tests[i].name);
			continue;
		}
		current_test = tests[i].name;
		alarm(opts.watchdog);
		ok = tests[i].fn();
		alarm(0);
		ksft_print_msg("%s: %.1f s\n", tests[i].name, now() - t0);
		ksft_test_result(ok, "%s\n", tests[i].name);
	}
	ksft_finished();
}
