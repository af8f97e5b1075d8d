// SPDX-License-Identifier: GPL-2.0
/*
 * Selective KSM (CONFIG_SELECTIVE_KSM) selftests.
 *
 * Every test checks frames through /proc/PID/pagemap (same PFN = one shared
 * frame, so run as root) and the partition's own counters, never timing.
 * The target processes are children that map an area, fill it on request
 * and answer requests over a pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/ksm.h>

#include "kselftest.h"
#include "ksm_partition_lib.h"

/* ------------------------------------------------------------------ */
/* Target processes                                                     */

enum op {
	OP_FILL,	/* a: value of page 0; b: 1 = all pages hold a */
	OP_WRITE,	/* page a gets value b */
	OP_CHECK,	/* page a holds value b? */
	OP_MADVISE,	/* madvise(whole area, a) */
	OP_PRCTL_MERGE,	/* prctl(PR_SET_MEMORY_MERGE, a) */
	OP_MUNMAP,	/* munmap page a */
	OP_MREMAP,	/* move b pages from page a, growing them by one */
	OP_EXEC,	/* exec this program, idle */
	OP_TOUCH_EVEN,	/* fill only the even pages with value a */
	OP_SETUID,	/* become uid and gid a, staying ptrace-able */
	OP_DROP_CAPS,	/* drop every capability, staying ptrace-able */
	OP_DONTNEED,	/* madvise(MADV_DONTNEED) b pages from page a */
	OP_FORK,	/* fork a child that keeps the memory and waits; a: its pid */
	OP_READ,	/* read (fault in) every page */
	OP_QUIT,
};

struct msg {
	int op;
	int err;
	long a, b;
};

struct target {
	pid_t pid;
	int req, rsp;
	char *mem;
	size_t len;
	char *moved;	/* where OP_MREMAP moved pages to */
	pid_t child;	/* what OP_FORK forked */
};

static void serve(int req, int rsp, char *mem, size_t len)
{
	struct msg m;

	while (read(req, &m, sizeof(m)) == sizeof(m)) {
		size_t i;

		m.err = 0;
		switch (m.op) {
		case OP_FILL:
			for (i = 0; i < len / PAGE; i++)
				fill_page(mem + i * PAGE, m.b ? (uint64_t)m.a : m.a + i);
			break;
		case OP_WRITE:
			fill_page(mem + m.a * PAGE, m.b);
			break;
		case OP_CHECK:
			m.err = page_holds(mem + m.a * PAGE, m.b) ? 0 : EIO;
			break;
		case OP_MADVISE:
			if (madvise(mem, len, m.a))
				m.err = errno;
			break;
		case OP_PRCTL_MERGE:
			if (prctl(PR_SET_MEMORY_MERGE, m.a, 0, 0, 0))
				m.err = errno;
			break;
		case OP_TOUCH_EVEN:
			for (i = 0; i < len / PAGE; i += 2)
				fill_page(mem + i * PAGE, m.a);
			break;
		case OP_MUNMAP:
			if (munmap(mem + m.a * PAGE, PAGE))
				m.err = errno;
			break;
		case OP_MREMAP: {
			/* Growing a middle part of a vma moves it */
			void *to = mremap(mem + m.a * PAGE, m.b * PAGE,
					  (m.b + 1) * PAGE, MREMAP_MAYMOVE);

			if (to == MAP_FAILED)
				m.err = errno;
			else
				m.a = (long)to;
			break;
		}
		case OP_SETUID:
			if (setgroups(0, NULL) || setresgid(m.a, m.a, m.a) ||
			    setresuid(m.a, m.a, m.a) ||
			    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
				m.err = errno;
			break;
		case OP_DROP_CAPS: {
			struct __user_cap_header_struct hdr = {
				_LINUX_CAPABILITY_VERSION_3, 0 };
			struct __user_cap_data_struct none[2] = { 0 };

			if (syscall(SYS_capset, &hdr, none) ||
			    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
				m.err = errno;
			break;
		}
		case OP_DONTNEED:
			if (madvise(mem + m.a * PAGE, m.b * PAGE, MADV_DONTNEED))
				m.err = errno;
			break;
		case OP_FORK: {
			pid_t child = fork();

			if (child < 0) {
				m.err = errno;
			} else if (!child) {
				close(req);
				close(rsp);
				for (;;)
					pause();
			}
			m.a = child;
			break;
		}
		case OP_READ: {
			volatile char sum = 0;

			for (i = 0; i < len / PAGE; i++)
				sum += mem[i * PAGE];
			(void)sum;
			break;
		}
		case OP_EXEC:
			if (write(rsp, &m, sizeof(m)) != sizeof(m))
				_exit(1);
			execl("/proc/self/exe", "ksm_partition_tests", "--idle", NULL);
			_exit(1);
		case OP_QUIT:
			_exit(0);
		}
		if (write(rsp, &m, sizeof(m)) != sizeof(m))
			_exit(1);
	}
	_exit(0);
}

/* Map an area (THP-backed if @thp) and start a process that owns it */
static bool target_start(struct target *t, size_t npages, bool thp)
{
	int req[2], rsp[2];
	char *mem;

	t->len = npages * PAGE;
	if (thp) {
		mem = mmap(NULL, t->len + THP_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return false;
		mem = (char *)(((uintptr_t)mem + THP_SIZE - 1) & ~(THP_SIZE - 1));
		if (madvise(mem, t->len, MADV_HUGEPAGE))
			return false;
	} else {
		mem = mmap(NULL, t->len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return false;
	}
	if (pipe(req) || pipe(rsp))
		return false;
	t->pid = fork();
	if (t->pid < 0)
		return false;
	if (!t->pid) {
		close(req[1]);
		close(rsp[0]);
		serve(req[0], rsp[1], mem, t->len);
	}
	close(req[0]);
	close(rsp[1]);
	t->req = req[1];
	t->rsp = rsp[0];
	t->mem = mem;
	return true;
}

/* Send a request; returns the errno the target reported (0 = success) */
static int target_do(struct target *t, int op, long a, long b)
{
	struct msg m = { .op = op, .a = a, .b = b };

	if (write(t->req, &m, sizeof(m)) != sizeof(m))
		return EPIPE;
	if (read(t->rsp, &m, sizeof(m)) != sizeof(m))
		return EPIPE;
	if (op == OP_MREMAP && !m.err)
		t->moved = (char *)m.a;
	if (op == OP_FORK && !m.err)
		t->child = m.a;
	return m.err;
}

/*
 * Start two processes with identical memory: @npages pages filled from
 * @seed, distinct pages (@same 0) or all the same page (@same 1).
 */
static bool twins_start(struct target *a, struct target *b, size_t npages,
			long seed, long same)
{
	return target_start(a, npages, false) && target_start(b, npages, false) &&
	       !target_do(a, OP_FILL, seed, same) &&
	       !target_do(b, OP_FILL, seed, same);
}

/*
 * Wait until @pid, a process that is not our child, has exited (a zombie
 * or gone: its mm is released by then), at most 10 s
 */
static bool wait_exited(pid_t pid)
{
	char path[64], buf[256], *p;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 1000; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return true;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return true;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return true;
		usleep(10000);
	}
	return false;
}

/* Kill the child that OP_FORK made and wait until it has exited */
static bool target_kill_child(struct target *t)
{
	pid_t child = t->child;

	if (child <= 0)
		return true;
	t->child = 0;
	kill(child, SIGKILL);
	return wait_exited(child);
}

static void target_stop(struct target *t)
{
	target_kill_child(t);
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	close(t->req);
	close(t->rsp);
	t->pid = 0;
}

static unsigned long addr_of(struct target *t, size_t page)
{
	return (unsigned long)t->mem + page * PAGE;
}

/* PFN of a page of a process, 0 if not present */
static uint64_t pfn_of(pid_t pid, unsigned long addr)
{
	uint64_t pfn;

	return pfns_of(pid, addr, 1, &pfn) ? pfn : 0;
}

static uint64_t pfn_at(struct target *t, size_t page)
{
	return pfn_of(t->pid, addr_of(t, page));
}

/* ------------------------------------------------------------------ */
/* sysfs                                                                */

#define part_file_write(name, file, ...) \
	dir_file_write(PARTITIONS, name, file, __VA_ARGS__)

static int part_merge(const char *name, pid_t pid, unsigned long start,
		      unsigned long end)
{
	return part_range(name, "merge", pid, start, end);
}

static int part_unmerge(const char *name, pid_t pid, unsigned long start,
			unsigned long end)
{
	return part_file_write(name, "unmerge", "%d %lx %lx", pid, start, end);
}

static int merge_all(const char *name, struct target *t)
{
	return part_merge(name, t->pid, addr_of(t, 0), addr_of(t, 0) + t->len);
}

static int unmerge_all(const char *name, struct target *t)
{
	return part_unmerge(name, t->pid, addr_of(t, 0), addr_of(t, 0) + t->len);
}

/* ------------------------------------------------------------------ */
/* Assertions                                                           */

/* Pages [from, to) of a and b share frames (or not) */
static bool frames_shared(struct target *a, struct target *b, size_t from,
			  size_t to, bool shared)
{
	size_t i;

	for (i = from; i < to; i++) {
		uint64_t pa = pfn_at(a, i), pb = pfn_at(b, i);

		if (!pa || !pb || (pa == pb) != shared) {
			ksft_print_msg("page %zu: pfn %#llx vs %#llx, expected %s\n",
				       i, (unsigned long long)pa,
				       (unsigned long long)pb,
				       shared ? "shared" : "distinct");
			return false;
		}
	}
	return true;
}

#define NPAGES 32

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static bool test_add_remove(void)
{
	const char *p = "sk-addrm";
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(part_exists(p), "partition directory missing");
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK(counter(p, "pages_scanned") == 0, "pages_scanned");
	CHECK_ERR(part_remove(p), 0);
	CHECK(!part_exists(p), "partition directory still there");
	CHECK_ERR(part_add(p), 0);	/* the name is free again */
	ok = true;
out:
	part_remove(p);
	return ok;
}

/* Identical pages of one process merge in one call */
static bool test_merge_one_process(void)
{
	const char *p = "sk-one";
	struct target a = { 0 };
	bool ok = false;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 7, 1), "fill");
	CHECK_ERR(merge_all(p, &a), 0);
	for (i = 1; i < NPAGES; i++)
		CHECK(pfn_at(&a, i) && pfn_at(&a, i) == pfn_at(&a, 0),
		      "page %zu not merged", i);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	CHECK(counter(p, "pages_scanned") == NPAGES, "pages_scanned %ld",
	      counter(p, "pages_scanned"));
	for (i = 0; i < NPAGES; i++)
		CHECK(!target_do(&a, OP_CHECK, i, 7), "content of page %zu", i);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

/* Only present pages are looked at; holes in the range are skipped */
static bool test_sparse_range(void)
{
	const char *p = "sk-sparse";
	struct target a = { 0 };
	bool ok = false;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_TOUCH_EVEN, 55, 0), "touch");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK(counter(p, "pages_scanned") == NPAGES / 2, "pages_scanned %ld",
	      counter(p, "pages_scanned"));
	CHECK_COUNTERS(p, 1, NPAGES / 2 - 1, 0, 1);
	for (i = 1; i < NPAGES; i += 2)
		CHECK(!pfn_at(&a, i), "page %zu populated", i);
	for (i = 2; i < NPAGES; i += 2)
		CHECK(pfn_at(&a, i) == pfn_at(&a, 0), "page %zu not merged", i);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

/* Process A merged now, process B later: B's pages share A's frames */
static bool test_merge_two_calls(void)
{
	const char *p = "sk-two";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 100, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_COUNTERS(p, 0, 0, NPAGES, 1);
	CHECK(frames_shared(&a, &b, 0, NPAGES, false), "shared before merge");
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "frames");
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	/* A merge again changes nothing */
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* Same content in two partitions: shared inside each, never across */
static bool test_partitions_isolated(void)
{
	const char *p1 = "sk-iso1", *p2 = "sk-iso2";
	struct target t[4] = { 0 };
	bool ok = false;
	int i;

	CHECK_ERR(part_add(p1), 0);
	CHECK_ERR(part_add(p2), 0);
	for (i = 0; i < 4; i++) {
		CHECK(target_start(&t[i], NPAGES, false), "start");
		CHECK(!target_do(&t[i], OP_FILL, 300, 0), "fill");
	}
	CHECK_ERR(merge_all(p1, &t[0]), 0);
	CHECK_ERR(merge_all(p2, &t[2]), 0);
	CHECK_ERR(merge_all(p1, &t[1]), 0);
	CHECK_ERR(merge_all(p2, &t[3]), 0);
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, true), "inside p1");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "inside p2");
	CHECK(frames_shared(&t[0], &t[2], 0, NPAGES, false), "across");
	CHECK(frames_shared(&t[1], &t[3], 0, NPAGES, false), "across");
	CHECK_COUNTERS(p1, NPAGES, NPAGES, 0, 2);
	CHECK_COUNTERS(p2, NPAGES, NPAGES, 0, 2);
	ok = true;
out:
	for (i = 0; i < 4; i++)
		target_stop(&t[i]);
	part_remove(p1);
	part_remove(p2);
	return ok;
}

/* A write after merge copies: the writer sees its data, the other its own */
static bool test_write_copies(void)
{
	const char *p = "sk-cow";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 500, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "merged");
	CHECK(!target_do(&a, OP_WRITE, 3, 99999), "write");
	CHECK(!target_do(&a, OP_CHECK, 3, 99999), "writer sees its data");
	CHECK(!target_do(&b, OP_CHECK, 3, 503), "other keeps its data");
	CHECK(frames_shared(&a, &b, 3, 4, false), "written page still shared");
	CHECK(frames_shared(&a, &b, 0, 3, true), "pages before");
	CHECK(frames_shared(&a, &b, 4, NPAGES, true), "pages after");
	for (i = 0; i < NPAGES; i++)
		if (i != 3)
			CHECK(!target_do(&a, OP_CHECK, i, 500 + i), "page %zu", i);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* Unmerging a range unshares exactly that range */
static bool test_range_unmerge(void)
{
	const char *p = "sk-unm";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 700, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_ERR(part_unmerge(p, a.pid, addr_of(&a, 8), addr_of(&a, 16)), 0);
	CHECK(frames_shared(&a, &b, 0, 8, true), "below the range");
	CHECK(frames_shared(&a, &b, 8, 16, false), "the range");
	CHECK(frames_shared(&a, &b, 16, NPAGES, true), "above the range");
	CHECK(!target_do(&a, OP_CHECK, 10, 710), "content kept");
	/* B alone keeps the 8 KSM pages: shared, no longer sharing */
	CHECK_COUNTERS(p, NPAGES, NPAGES - 8, 0, 2);
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_COUNTERS(p, NPAGES, 0, 0, 1);
	CHECK_ERR(unmerge_all(p, &b), 0);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* A bound process cannot be merged into another partition until unmerged */
static bool test_bound_other_partition(void)
{
	const char *p1 = "sk-bnd1", *p2 = "sk-bnd2";
	struct target a = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p1), 0);
	CHECK_ERR(part_add(p2), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 9, 1), "fill");
	CHECK_ERR(part_merge(p1, a.pid, addr_of(&a, 0), addr_of(&a, 4)), 0);
	/* Even a disjoint range: the binding is per process */
	CHECK_ERR(part_merge(p2, a.pid, addr_of(&a, 8), addr_of(&a, 16)), -EBUSY);
	CHECK_ERR(part_unmerge(p2, a.pid, addr_of(&a, 0), addr_of(&a, 4)), -EBUSY);
	CHECK_COUNTERS(p2, 0, 0, 0, 0);
	CHECK_ERR(part_unmerge(p1, a.pid, addr_of(&a, 0), addr_of(&a, 4)), 0);
	CHECK_COUNTERS(p1, 0, 0, 0, 0);
	CHECK_ERR(merge_all(p2, &a), 0);
	CHECK_COUNTERS(p2, 1, NPAGES - 1, 0, 1);
	ok = true;
out:
	target_stop(&a);
	part_remove(p1);
	part_remove(p2);
	return ok;
}

/* A bound process cannot use MADV_MERGEABLE or PR_SET_MEMORY_MERGE */
static bool test_bound_refuses_global(void)
{
	const char *p = "sk-bglob";
	struct target a = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 11, 1), "fill");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK(target_do(&a, OP_MADVISE, MADV_MERGEABLE, 0) == EBUSY,
	      "MADV_MERGEABLE on a bound process");
	CHECK(target_do(&a, OP_PRCTL_MERGE, 1, 0) == EBUSY,
	      "PR_SET_MEMORY_MERGE on a bound process");
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK(!target_do(&a, OP_MADVISE, MADV_MERGEABLE, 0),
	      "MADV_MERGEABLE after full unmerge");
	CHECK(!target_do(&a, OP_MADVISE, MADV_UNMERGEABLE, 0), "unmergeable");
	CHECK(!target_do(&a, OP_PRCTL_MERGE, 1, 0),
	      "PR_SET_MEMORY_MERGE after full unmerge");
	CHECK(!target_do(&a, OP_PRCTL_MERGE, 0, 0), "prctl off");
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

/* /proc/PID/ksm_stat names the partition a process is bound to */
static bool test_ksm_stat_names_partition(void)
{
	const char *p = "sk-stat";
	struct target a = { 0 };
	char name[128];
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 13, 1), "fill");
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)), "no ksm_partition line");
	CHECK(!strcmp(name, "-"), "unbound process shows '%s'", name);
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)), "no ksm_partition line");
	CHECK(!strcmp(name, p), "bound process shows '%s'", name);
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)), "no ksm_partition line");
	CHECK(!strcmp(name, "-"), "unmerged process shows '%s'", name);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

/* A process using MADV_MERGEABLE or PR_SET_MEMORY_MERGE cannot be bound */
static bool test_global_refuses_partition(void)
{
	const char *p = "sk-gpart";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 13, 1), "start");
	CHECK(!target_do(&a, OP_MADVISE, MADV_MERGEABLE, 0), "madvise");
	CHECK(!target_do(&b, OP_PRCTL_MERGE, 1, 0), "prctl");
	CHECK_ERR(merge_all(p, &a), -EBUSY);
	CHECK_ERR(merge_all(p, &b), -EBUSY);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK(!target_do(&a, OP_MADVISE, MADV_UNMERGEABLE, 0), "unmergeable");
	CHECK(!target_do(&b, OP_PRCTL_MERGE, 0, 0), "prctl off");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, 1, 2 * NPAGES - 1, 0, 2);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

static int ksm_global_write(const char *file, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYSFS_DIR "/%s", file);
	return sysfs_write(path, "%s", val);
}

/* Removing a partition unmerges its pages only */
static bool test_remove_only_own(void)
{
	const char *p1 = "sk-rm1", *p2 = "sk-rm2";
	struct target t[6] = { 0 };
	bool ok = false;
	int i, tries;

	CHECK_ERR(part_add(p1), 0);
	CHECK_ERR(part_add(p2), 0);
	for (i = 0; i < 6; i++) {
		CHECK(target_start(&t[i], NPAGES, false), "start");
		CHECK(!target_do(&t[i], OP_FILL, 900, 0), "fill");
	}
	/* t[4] and t[5] use ksmd */
	CHECK(!target_do(&t[4], OP_MADVISE, MADV_MERGEABLE, 0), "madvise");
	CHECK(!target_do(&t[5], OP_MADVISE, MADV_MERGEABLE, 0), "madvise");
	CHECK_ERR(ksm_global_write("sleep_millisecs", "10"), 0);
	CHECK_ERR(ksm_global_write("pages_to_scan", "1000"), 0);
	CHECK_ERR(ksm_global_write("run", "1"), 0);
	/* Wait for ksmd's merge (a condition, not a duration) */
	for (tries = 0; tries < 3000; tries++) {
		size_t j;

		for (j = 0; j < NPAGES; j++)
			if (pfn_at(&t[4], j) != pfn_at(&t[5], j))
				break;
		if (j == NPAGES)
			break;
		usleep(20000);
	}
	CHECK(frames_shared(&t[4], &t[5], 0, NPAGES, true), "ksmd merged");
	CHECK_ERR(ksm_global_write("run", "0"), 0);

	CHECK_ERR(merge_all(p1, &t[0]), 0);
	CHECK_ERR(merge_all(p1, &t[1]), 0);
	CHECK_ERR(merge_all(p2, &t[2]), 0);
	CHECK_ERR(merge_all(p2, &t[3]), 0);
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, true), "p1 merged");
	CHECK_ERR(part_remove(p1), 0);
	CHECK(!part_exists(p1), "p1 still there");
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, false), "p1 unmerged");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "p2 still merged");
	CHECK_COUNTERS(p2, NPAGES, NPAGES, 0, 2);
	CHECK(frames_shared(&t[4], &t[5], 0, NPAGES, true), "ksmd pages still merged");
	for (i = 0; i < NPAGES; i++)
		CHECK(!target_do(&t[0], OP_CHECK, i, 900 + i), "content");
	/* p1's processes are free again */
	CHECK(!target_do(&t[0], OP_MADVISE, MADV_MERGEABLE, 0), "madvise after removal");
	ok = true;
out:
	ksm_global_write("run", "2");
	for (i = 0; i < 6; i++)
		target_stop(&t[i]);
	ksm_global_write("run", "0");
	part_remove(p1);
	part_remove(p2);
	return ok;
}

/* Process exit returns the partition's counters to zero */
static bool test_exit_cleanup(void)
{
	const char *p = "sk-exit";
	struct target a = { 0 }, b = { 0 }, c = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false) && target_start(&b, NPAGES, false) &&
	      target_start(&c, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 1200, 0) && !target_do(&b, OP_FILL, 1200, 0) &&
	      !target_do(&c, OP_FILL, 5000, 0), "fill");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_ERR(merge_all(p, &c), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES, NPAGES, 3);
	target_stop(&a);
	CHECK_COUNTERS(p, NPAGES, 0, NPAGES, 2);
	target_stop(&c);
	CHECK_COUNTERS(p, NPAGES, 0, 0, 1);
	target_stop(&b);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	target_stop(&c);
	part_remove(p);
	return ok;
}

/* A child forked from a bound process joins the partition */
static bool test_fork_inherits(void)
{
	const char *p = "sk-fork", *q = "sk-fork2";
	struct target a = { 0 };
	bool ok = false;
	pid_t child = 0;
	int status;

	CHECK_ERR(part_add(p), 0);
	CHECK_ERR(part_add(q), 0);
	/* The test process itself is the parent here */
	a.len = NPAGES * PAGE;
	a.mem = mmap(NULL, a.len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(a.mem != MAP_FAILED, "mmap");
	a.pid = getpid();
	for (size_t i = 0; i < NPAGES; i++)
		fill_page(a.mem + i * PAGE, 77);
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	child = fork();
	CHECK(child >= 0, "fork");
	if (!child) {
		pause();
		_exit(0);
	}
	CHECK(counter(p, "merged_processes") == 2, "child not bound");
	CHECK(pfn_of(child, addr_of(&a, 5)) == pfn_at(&a, 0), "child maps the KSM page");
	/* The child is bound to p as well */
	CHECK_ERR(part_merge(q, child, addr_of(&a, 0), addr_of(&a, NPAGES)), -EBUSY);
	/* Merging the child counts its mappings */
	CHECK_ERR(part_merge(p, child, addr_of(&a, 0), addr_of(&a, NPAGES)), 0);
	CHECK_COUNTERS(p, 1, 2 * NPAGES - 1, 0, 2);
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	/* Removal unmerges the child too */
	CHECK_ERR(part_remove(p), 0);
	CHECK(pfn_of(child, addr_of(&a, 5)) != pfn_of(child, addr_of(&a, 6)),
	      "child still merged after removal");
	ok = true;
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	if (a.mem && a.mem != MAP_FAILED)
		munmap(a.mem, a.len);
	part_remove(p);
	part_remove(q);
	return ok;
}

/*
 * Pages shared by fork with a process outside the partition never become
 * KSM pages there: else that process would share a frame with the partition
 */
static bool test_fork_shared_isolated(void)
{
	const char *p1 = "sk-fsh1", *p2 = "sk-fsh2";
	struct target self = { 0 }, d = { 0 };
	bool ok = false;
	pid_t child = 0;
	size_t i;

	CHECK_ERR(part_add(p1), 0);
	CHECK_ERR(part_add(p2), 0);
	self.len = NPAGES * PAGE;
	self.mem = mmap(NULL, self.len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(self.mem != MAP_FAILED, "mmap");
	self.pid = getpid();
	for (i = 0; i < NPAGES; i++)
		fill_page(self.mem + i * PAGE, 8000 + i);
	child = fork();
	CHECK(child >= 0, "fork");
	if (!child) {
		pause();
		_exit(0);
	}
	CHECK(pfn_of(child, addr_of(&self, 0)) == pfn_at(&self, 0), "not shared by fork");
	/* d, in p1, holds the same contents */
	CHECK(target_start(&d, NPAGES, false), "start");
	CHECK(!target_do(&d, OP_FILL, 8000, 0), "fill");
	CHECK_ERR(merge_all(p1, &d), 0);
	CHECK_ERR(merge_all(p1, &self), 0);
	for (i = 0; i < NPAGES; i++)
		CHECK(pfn_of(child, addr_of(&self, i)) != pfn_at(&d, i),
		      "page %zu: the child, in no partition, shares p1's frame", i);
	CHECK_COUNTERS(p1, 0, 0, NPAGES, 2);
	CHECK_ERR(part_merge(p2, child, addr_of(&self, 0), addr_of(&self, NPAGES)), 0);
	for (i = 0; i < NPAGES; i++)
		CHECK(pfn_of(child, addr_of(&self, i)) != pfn_at(&d, i),
		      "page %zu: p2's child shares p1's frame", i);
	CHECK_COUNTERS(p2, 0, 0, NPAGES, 1);
	CHECK_ERR(unmerge_all(p1, &self), 0);
	ok = true;
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	target_stop(&d);
	if (self.mem && self.mem != MAP_FAILED)
		munmap(self.mem, self.len);
	part_remove(p1);
	part_remove(p2);
	return ok;
}

static long thp_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A THP-backed range with duplicates merges (the THP is split) */
static bool test_thp_merge(void)
{
	const char *p = "sk-thp";
	struct target a = { 0 }, b = { 0 };
	size_t n = THP_SIZE / PAGE;
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, n, true) && target_start(&b, n, true), "start");
	CHECK(!target_do(&a, OP_FILL, 4000, 0) && !target_do(&b, OP_FILL, 4000, 0),
	      "fill");
	CHECK(thp_kb(a.pid) >= 2048 && thp_kb(b.pid) >= 2048,
	      "no THP: %ld kB, %ld kB", thp_kb(a.pid), thp_kb(b.pid));
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK(thp_kb(a.pid) >= 2048, "A's THP split although nothing matched");
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK(frames_shared(&a, &b, 0, n, true), "frames");
	CHECK_COUNTERS(p, n, n, 0, 2);
	CHECK(!target_do(&a, OP_CHECK, 17, 4017), "content");
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* A THP is split where one of its pages has a duplicate, and merges there */
static bool test_thp_partial(void)
{
	const char *p = "sk-thp2";
	struct target a = { 0 }, b = { 0 };
	size_t n = THP_SIZE / PAGE, i;
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, n, true) && target_start(&b, 1, false), "start");
	CHECK(!target_do(&a, OP_FILL, 6000, 0), "fill");
	/* b's only page equals page 5 of a's THP */
	CHECK(!target_do(&b, OP_FILL, 6005, 0), "fill");
	CHECK(thp_kb(a.pid) >= 2048, "no THP: %ld kB", thp_kb(a.pid));
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK(pfn_at(&a, 5) && pfn_at(&a, 5) == pfn_at(&b, 0), "page 5 not merged");
	CHECK(thp_kb(a.pid) == 0, "THP not split: %ld kB", thp_kb(a.pid));
	CHECK_COUNTERS(p, 1, 1, n - 1, 2);
	for (i = 0; i < n; i++)
		CHECK(!target_do(&a, OP_CHECK, i, 6000 + i), "content of page %zu", i);
	CHECK(!target_do(&b, OP_CHECK, 0, 6005), "content");
	/* Write to every page, then exit: frames and counters stay sane */
	for (i = 0; i < n; i++)
		CHECK(!target_do(&a, OP_WRITE, i, 7000 + i), "write");
	target_stop(&a);
	CHECK_COUNTERS(p, 1, 0, 0, 1);
	target_stop(&b);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* munmap and mremap leave stale entries; unmerge makes counters exact */
static bool test_munmap_mremap(void)
{
	const char *p = "sk-stale";
	struct target a = { 0 }, b = { 0 };
	unsigned long to;
	bool ok = false;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 1500, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	for (i = 0; i < 4; i++)
		CHECK(!target_do(&a, OP_MUNMAP, i, 0), "munmap");
	CHECK(!target_do(&a, OP_MREMAP, 8, 4), "mremap");
	to = (unsigned long)a.moved;
	CHECK(to != addr_of(&a, 8), "mremap did not move");
	/* mremap unshared the pages it moved, and kept their contents */
	for (i = 0; i < 4; i++) {
		uint64_t pfn = pfn_of(a.pid, to + i * PAGE);

		CHECK(pfn && pfn != pfn_at(&b, 8 + i), "moved page %zu: pfn %#llx",
		      i, (unsigned long long)pfn);
	}
	CHECK(frames_shared(&a, &b, 12, NPAGES, true), "other pages");
	/* A merge of the rest repairs nothing yet: the entries are outside */
	CHECK_ERR(part_merge(p, a.pid, addr_of(&a, 12), addr_of(&a, NPAGES)), 0);
	/* Unmerging the original area forgets the stale entries */
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_COUNTERS(p, NPAGES, 0, 0, 2);
	/* The moved range is still the partition's until unmerged */
	CHECK_ERR(part_unmerge(p, a.pid, to, to + 5 * PAGE), 0);
	CHECK_COUNTERS(p, NPAGES, 0, 0, 1);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* exec replaces the mm: the old one leaves the partition */
static bool test_exec_unbinds(void)
{
	const char *p = "sk-exec";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;
	int i;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, NPAGES, 1700, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK(!target_do(&a, OP_EXEC, 0, 0), "exec");
	/* Wait until the exec is done: the area is gone from the new image */
	for (i = 0; i < 1000 && pfn_at(&a, 0); i++)
		usleep(10000);
	CHECK(!pfn_at(&a, 0), "exec did not happen");
	CHECK_COUNTERS(p, NPAGES, 0, 0, 1);
	CHECK_ERR(merge_all(p, &a), -ENOMEM);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* A merge killed half-way keeps what it did, with exact counters */
static bool test_killed_merge(void)
{
	const char *p = "sk-kill";
	struct target a = { 0 }, b = { 0 };
	size_t n = 4096, i, k = 0;
	bool ok = false;
	pid_t pid;
	int status;

	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, n, 20000, 0), "start");
	CHECK_ERR(merge_all(p, &b), 0);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(-merge_all(p, &a));
	usleep(50000);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid, "wait");
	/* Whenever the kill landed: pages 0..k-1 of A share B's frames */
	for (i = 0; i < n; i++)
		if (pfn_at(&a, i) == pfn_at(&b, i))
			k++;
	ksft_print_msg("killed merge: %zu of %zu pages merged (%s)\n", k, n,
		       WIFSIGNALED(status) ? "killed" : "completed");
	CHECK(frames_shared(&a, &b, 0, k, true), "merged prefix");
	CHECK(counter(p, "pages_shared") == (long)k &&
	      counter(p, "pages_sharing") == (long)k &&
	      counter(p, "pages_unshared") == (long)(n - k),
	      "counters do not match the %zu merged pages", k);
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_ERR(unmerge_all(p, &b), 0);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

struct par_merge {
	const char *name;
	struct target *t;
	int err;
};

static void *par_merge_fn(void *arg)
{
	struct par_merge *m = arg;

	m->err = merge_all(m->name, m->t);
	return NULL;
}

/* Two partitions merge at the same time, each exactly */
static bool test_concurrent_partitions(void)
{
	const char *p[2] = { "sk-par1", "sk-par2" };
	struct target t[4] = { 0 };
	struct par_merge m[2];
	pthread_t th[2];
	size_t n = 1024;
	bool ok = false;
	int i;

	for (i = 0; i < 2; i++)
		CHECK_ERR(part_add(p[i]), 0);
	for (i = 0; i < 4; i++) {
		CHECK(target_start(&t[i], n, false), "start");
		CHECK(!target_do(&t[i], OP_FILL, 30000, 0), "fill");
	}
	/* p[0] gets t0 and t1, p[1] gets t2 and t3, same contents everywhere */
	CHECK_ERR(merge_all(p[0], &t[0]), 0);
	CHECK_ERR(merge_all(p[1], &t[2]), 0);
	for (i = 0; i < 2; i++) {
		m[i] = (struct par_merge){ p[i], &t[2 * i + 1], -1 };
		CHECK(!pthread_create(&th[i], NULL, par_merge_fn, &m[i]), "thread");
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK(m[0].err == 0 && m[1].err == 0, "merge: %d %d", m[0].err, m[1].err);
	CHECK(frames_shared(&t[0], &t[1], 0, n, true), "inside p1");
	CHECK(frames_shared(&t[2], &t[3], 0, n, true), "inside p2");
	CHECK(frames_shared(&t[1], &t[3], 0, n, false), "across");
	CHECK_COUNTERS(p[0], n, n, 0, 2);
	CHECK_COUNTERS(p[1], n, n, 0, 2);
	ok = true;
out:
	for (i = 0; i < 4; i++)
		target_stop(&t[i]);
	part_remove(p[0]);
	part_remove(p[1]);
	return ok;
}

/* More sharers than max_page_sharing: the partition's stable node chains */
static bool test_chains(void)
{
	const char *p = "sk-chain";
	struct target a = { 0 }, b = { 0 };
	size_t n = 700, i, frames = 1;
	long limit = read_counter(KSM_SYSFS_DIR "/max_page_sharing");
	uint64_t *pfns = calloc(2 * n, sizeof(*pfns));
	bool ok = false;
	long s, g, u;

	CHECK(pfns && limit >= 2 && limit < (long)n, "max_page_sharing %ld", limit);
	CHECK_ERR(part_add(p), 0);
	CHECK(twins_start(&a, &b, n, 42, 1), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	for (i = 0; i < n; i++) {
		pfns[i] = pfn_at(&a, i);
		pfns[n + i] = pfn_at(&b, i);
	}
	qsort(pfns, 2 * n, sizeof(*pfns), cmp_u64);
	for (i = 1; i < 2 * n; i++)
		if (pfns[i] != pfns[i - 1])
			frames++;
	s = counter(p, "pages_shared");
	g = counter(p, "pages_sharing");
	u = counter(p, "pages_unshared");
	ksft_print_msg("%zu pages in %zu frames: shared %ld sharing %ld unshared %ld\n",
		       2 * n, frames, s, g, u);
	/* Every mapping is counted once; each frame is a node or unshared */
	CHECK(s + g + u == (long)(2 * n), "counters do not add up");
	CHECK(s + u == (long)frames, "frames and counters differ");
	CHECK(frames >= (2 * n + limit - 1) / limit && frames < 2 * n / 4,
	      "%zu frames", frames);
	for (i = 0; i < n; i += 97)
		CHECK(!target_do(&a, OP_CHECK, i, 42), "content");
	CHECK_ERR(unmerge_all(p, &a), 0);
	CHECK_ERR(part_remove(p), 0);
	CHECK(!target_do(&b, OP_CHECK, 3, 42), "content after removal");
	ok = true;
out:
	free(pfns);
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* Bad input to control/add_partition and control/remove_partition */
static bool test_bad_control_input(void)
{
	char longname[80];
	bool ok = false;

	memset(longname, 'a', 64);
	longname[64] = '\0';
	CHECK_ERR(part_add(""), -EINVAL);
	CHECK_ERR(sysfs_write(CONTROL "/add_partition", "\n"), -EINVAL);
	CHECK_ERR(part_add("Upper"), -EINVAL);
	CHECK_ERR(part_add("-lead"), -EINVAL);
	CHECK_ERR(part_add("trail-"), -EINVAL);
	CHECK_ERR(part_add(".dot"), -EINVAL);
	CHECK_ERR(part_add("."), -EINVAL);
	CHECK_ERR(part_add(".."), -EINVAL);
	CHECK_ERR(part_add("a/b"), -EINVAL);
	CHECK_ERR(part_add("a b"), -EINVAL);
	CHECK_ERR(part_add("a_b"), -EINVAL);
	CHECK_ERR(sysfs_write(CONTROL "/add_partition", "a\n\n"), -EINVAL);
	CHECK_ERR(part_add(longname), -EINVAL);
	longname[63] = '\0';
	CHECK_ERR(part_add(longname), 0);
	CHECK(part_exists(longname), "63 characters");
	CHECK_ERR(part_add(longname), -EEXIST);
	CHECK_ERR(part_remove(longname), 0);
	CHECK_ERR(part_add("a"), 0);
	CHECK_ERR(part_add("a.b-c.9"), 0);
	CHECK_ERR(part_remove("a"), 0);
	CHECK_ERR(part_remove("a.b-c.9"), 0);
	CHECK_ERR(part_remove("sk-unknown"), -ENOENT);
	CHECK_ERR(part_remove("a"), -ENOENT);
	CHECK_ERR(part_remove("Bad"), -EINVAL);
	CHECK_ERR(part_remove("\n"), -EINVAL);
	ok = true;
out:
	part_remove("a");
	part_remove("a.b-c.9");
	return ok;
}

/* Bad input to partition/<name>/merge and unmerge */
static bool bad_range_input(const char *file)
{
	const char *p = "sk-badin";
	struct target a = { 0 };
	unsigned long s, e;
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 21, 0), "fill");
	s = addr_of(&a, 0);
	e = addr_of(&a, NPAGES);
	CHECK_ERR(part_file_write(p, file, "garbage"), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "\n"), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d", a.pid), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx", a.pid, s), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx %lx 5", a.pid, s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "x%d %lx %lx", a.pid, s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d 0xzz %lx", a.pid, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "-%d %lx %lx", a.pid, s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "0 %lx %lx", s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "99999999999 %lx %lx", s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d 1%016lx %lx", a.pid, s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, s + 1, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, s, e - 1), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, s, s), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, e, s), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d ffffffff81000000 ffffffff81200000",
				  a.pid), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d 7ffffffff000 800000000000", a.pid),
		  -EINVAL);
	CHECK_ERR(part_file_write(p, file, "%d %0200lx %lx", a.pid, s, e), -EINVAL);
	CHECK_ERR(part_file_write(p, file, "4000000 %lx %lx", s, e), -ESRCH);
	if (!strcmp(file, "merge")) {
		/* Unmapped: a hole in the area, and the zero page */
		CHECK(!target_do(&a, OP_MUNMAP, NPAGES - 1, 0), "munmap");
		CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, s, e),
			  -ENOMEM);
		CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid,
					  e - PAGE, e), -ENOMEM);
		CHECK_ERR(part_file_write(p, file, "%d 0 1000", a.pid), -ENOMEM);
		CHECK_COUNTERS(p, 0, 0, 0, 0);
	} else {
		/* Nothing merged: unmerge has nothing to do */
		CHECK_ERR(part_file_write(p, file, "%d %lx %lx", a.pid, s, e), 0);
	}
	/* Still healthy: a good request works */
	e -= PAGE;
	CHECK_ERR(part_file_write(p, "merge", "%d %lx %lx", a.pid, s, e), 0);
	CHECK_COUNTERS(p, 0, 0, NPAGES - 1, 1);
	CHECK_ERR(part_file_write(p, "unmerge", "%d 0x%lx 0x%lx\n", a.pid, s, e), 0);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

static bool test_bad_merge_input(void)
{
	return bad_range_input("merge");
}

static bool test_bad_unmerge_input(void)
{
	return bad_range_input("unmerge");
}

/* Counter files are read-only, merge and unmerge write-only */
static bool test_file_modes(void)
{
	const char *files[] = { "pages_shared", "pages_sharing", "pages_unshared",
				"pages_scanned", "merged_processes" };
	const char *p = "sk-modes";
	char path[256];
	struct stat st;
	bool ok = false;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), PARTITIONS "/%s/%s", p, files[i]);
		CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0444, "%s mode", path);
		CHECK_ERR(sysfs_write(path, "1"), -EACCES);
	}
	snprintf(path, sizeof(path), PARTITIONS "/%s/merge", p);
	CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0200, "merge mode");
	CHECK(open(path, O_RDONLY) < 0 && errno == EACCES, "merge readable");
	snprintf(path, sizeof(path), PARTITIONS "/%s/unmerge", p);
	CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0200, "unmerge mode");
	CHECK(!stat(CONTROL "/add_partition", &st) && (st.st_mode & 0777) == 0200,
	      "add_partition mode");
	CHECK(!stat(CONTROL "/remove_partition", &st) && (st.st_mode & 0777) == 0200,
	      "remove_partition mode");
	ok = true;
out:
	part_remove(p);
	return ok;
}

static int drop_caps(unsigned int caps)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective &= ~caps;
	data[0].permitted &= ~caps;
	return syscall(SYS_capset, &hdr, data);
}

/* Without CAP_SYS_ADMIN, or without ptrace rights over the target: EPERM */
static bool test_permissions(void)
{
	const char *p = "sk-perm";
	struct target a = { 0 };
	bool ok = false;
	pid_t pid;
	int status;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 31, 0), "fill");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		if (drop_caps(1U << CAP_SYS_ADMIN))
			_exit(2);
		_exit(merge_all(p, &a) == -EPERM &&
		      part_add("sk-perm2") == -EPERM &&
		      part_remove(p) == -EPERM ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "without CAP_SYS_ADMIN: status %d", status);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	part_remove("sk-perm2");
	return ok;
}


/* ------------------------------------------------------------------ */
/* Syscalls                                                             */

#define USER_A	1000	/* unprivileged users of the syscall tests */
#define USER_B	1001
#define RW_SYNC	(O_RDWR | KSM_SYNC)

/* ksm_merge() of a target's whole area: pages merged, or -errno */
static long fd_merge_all(int fd, struct target *t)
{
	int pidfd = sys_pidfd_open(t->pid);
	long r;

	if (pidfd < 0)
		return pidfd;
	r = sys_ksm_merge(fd, pidfd, addr_of(t, 0), t->len, 0);
	close(pidfd);
	return r;
}

/* A counter of the partition behind @fd, from its fdinfo; -1 if absent */
static long fdinfo_counter(int fd, const char *key)
{
	char path[64], line[128];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

/* Does the fdinfo of @fd name partition @want (" (deleted)" included)? */
static bool fdinfo_names(int fd, const char *want)
{
	char path[64], line[128], expect[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(expect, sizeof(expect), "ksm_partition:\t%s\n", want);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		found |= !strcmp(line, expect);
	fclose(f);
	return found;
}

/* Wait up to 10 s for @pid to leave its partition (a worker unmerges) */
static bool wait_unbound(pid_t pid)
{
	char name[128];
	int i;

	for (i = 0; i < 1000; i++) {
		if (ksm_stat_partition(pid, name, sizeof(name)) &&
		    !strcmp(name, "-"))
			return true;
		usleep(10000);
	}
	return false;
}

/* Run @fn in a child as @uid (gid @uid, no capabilities); its result */
static bool as_user(uid_t uid, bool (*fn)(void *), void *arg)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return false;
	if (!pid) {
		if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
		    setresuid(uid, uid, uid))
			_exit(2);
		_exit(fn(arg) ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/* Create, open, KSM_EXCL, ENOENT, EEXIST; the name is the sysfs name */
static bool test_sys_open(void)
{
	const char *p = "sk-sys-open";
	int fd = -1, fd2 = -1;
	bool ok = false;

	CHECK_ERR(sys_ksm_open(p, RW_SYNC, 0600), -ENOENT);
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
	CHECK(fd >= 0, "create: %s", strerror(-fd));
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC, "close-on-exec");
	CHECK(part_exists(p), "sysfs directory missing");
	CHECK(fdinfo_names(fd, p), "fdinfo");
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK_ERR(sys_ksm_open(p, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600), -EEXIST);
	CHECK_ERR(part_add(p), -EEXIST);
	fd2 = sys_ksm_open(p, O_RDONLY, 0);
	CHECK(fd2 >= 0, "open existing: %s", strerror(-fd2));
	close(fd2);
	fd2 = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0600);
	CHECK(fd2 >= 0, "KSM_CREAT of an existing one: %s", strerror(-fd2));
	CHECK_ERR(sys_ksm_unlink(p), 0);
	CHECK(!part_exists(p), "sysfs directory still there");
	CHECK(fdinfo_names(fd, "sk-sys-open (deleted)"), "fdinfo after unlink");
	CHECK_ERR(sys_ksm_open(p, RW_SYNC, 0), -ENOENT);
	CHECK_ERR(sys_ksm_unlink(p), -ENOENT);
	CHECK_ERR(part_remove(p), -ENOENT);
	/* A partition made through sysfs opens as well */
	CHECK_ERR(part_add(p), 0);
	close(fd2);
	fd2 = sys_ksm_open(p, RW_SYNC, 0);
	CHECK(fd2 >= 0, "open a sysfs partition: %s", strerror(-fd2));
	CHECK_ERR(sys_ksm_unlink(p), 0);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	sys_ksm_unlink(p);
	return ok;
}

/* ksm_merge() returns the pages it merged; isolation and COW as via sysfs */
static bool test_sys_merge(void)
{
	const char *p = "sk-sys-m1", *q = "sk-sys-m2";
	struct target a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	int fp = -1, fq = -1;
	bool ok = false;
	size_t i;

	/* Targets first: a child forked later would hold the files too */
	CHECK(twins_start(&a, &b, NPAGES, 900, 0), "start a, b");
	CHECK(twins_start(&c, &d, NPAGES, 900, 0), "start c, d");
	fp = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0600);
	fq = sys_ksm_open(q, RW_SYNC | KSM_CREAT, 0600);
	CHECK(fp >= 0 && fq >= 0, "create");
	/* Distinct pages: a goes into the unstable tree, b merges with it */
	CHECK_ERR(fd_merge_all(fp, &a), 0);
	CHECK_ERR(fd_merge_all(fp, &b), NPAGES);
	CHECK_ERR(fd_merge_all(fp, &b), 0);
	CHECK_ERR(fd_merge_all(fq, &c), 0);
	CHECK_ERR(fd_merge_all(fq, &d), NPAGES);
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	CHECK_COUNTERS(q, NPAGES, NPAGES, 0, 2);
	CHECK(fdinfo_counter(fp, "pages_sharing") == NPAGES, "fdinfo");
	CHECK(fdinfo_counter(fp, "merged_processes") == 2, "fdinfo processes");
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "a and b share");
	CHECK(frames_shared(&c, &d, 0, NPAGES, true), "c and d share");
	CHECK(frames_shared(&a, &c, 0, NPAGES, false), "a and c do not");
	/* A partition's binding holds for the syscalls too */
	CHECK_ERR(fd_merge_all(fq, &a), -EBUSY);
	/* Copy on write */
	CHECK(!target_do(&a, OP_WRITE, 3, 77), "write");
	CHECK(!target_do(&a, OP_CHECK, 3, 77), "a sees its write");
	CHECK(!target_do(&b, OP_CHECK, 3, 903), "b keeps its page");
	for (i = 0; i < NPAGES; i++)
		CHECK(!target_do(&c, OP_CHECK, i, 900 + i), "c page %zu", i);
	CHECK(frames_shared(&a, &b, 3, 4, false), "written page copied");
	/* Unmerge returns 0 and unshares */
	{
		int pidfd = sys_pidfd_open(b.pid);

		CHECK(pidfd >= 0, "pidfd");
		CHECK_ERR(sys_ksm_unmerge(fp, pidfd, addr_of(&b, 0), b.len, 0), 0);
		close(pidfd);
	}
	CHECK(frames_shared(&a, &b, 0, NPAGES, false), "b unmerged");
	/* a's pages stay KSM pages of one mapping (page 3 was copied) */
	CHECK_COUNTERS(p, NPAGES - 1, 0, 0, 1);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	target_stop(&c);
	target_stop(&d);
	sys_ksm_unlink(p);
	sys_ksm_unlink(q);
	if (fp >= 0)
		close(fp);
	if (fq >= 0)
		close(fq);
	return ok;
}

/* Unlinked while open: the file keeps the partition; the last close ends it */
static bool test_sys_unlink_open(void)
{
	const char *p = "sk-sys-unlink";
	struct target a = { 0 }, b = { 0 };
	int fd = -1, fd2 = -1;
	char name[128];
	bool ok = false;

	CHECK(twins_start(&a, &b, NPAGES, 300, 0), "start");
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0600);
	CHECK(fd >= 0, "create");
	CHECK_ERR(fd_merge_all(fd, &a), 0);
	CHECK_ERR(sys_ksm_unlink(p), 0);
	CHECK(!part_exists(p), "directory gone");
	/* Still usable: b merges with what a left in the unstable tree */
	CHECK_ERR(fd_merge_all(fd, &b), NPAGES);
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "merged after unlink");
	CHECK(fdinfo_counter(fd, "pages_sharing") == NPAGES, "fdinfo counters");
	/* The name is free: a new partition of that name is another one */
	fd2 = sys_ksm_open(p, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
	CHECK(fd2 >= 0, "reuse the name: %s", strerror(-fd2));
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	CHECK_ERR(fd_merge_all(fd2, &a), -EBUSY);
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)) &&
	      !strcmp(name, p), "a bound: %s", name);
	/* Last close: unmerged, unbound */
	close(fd);
	fd = -1;
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)) &&
	      !strcmp(name, "-"), "a still bound to %s", name);
	CHECK(ksm_stat_partition(b.pid, name, sizeof(name)) &&
	      !strcmp(name, "-"), "b still bound to %s", name);
	CHECK(frames_shared(&a, &b, 0, NPAGES, false), "unmerged by close");
	CHECK(!target_do(&a, OP_CHECK, 5, 305), "content kept");
	/* Closing a partition that still has its name ends nothing */
	CHECK_ERR(fd_merge_all(fd2, &a), 0);
	CHECK_ERR(fd_merge_all(fd2, &b), NPAGES);
	close(fd2);
	fd2 = -1;
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "still merged");
	/* ... and unlinking it without open files does, at once */
	CHECK_ERR(sys_ksm_unlink(p), 0);
	CHECK(frames_shared(&a, &b, 0, NPAGES, false), "unmerged by unlink");
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	target_stop(&a);
	target_stop(&b);
	sys_ksm_unlink(p);
	return ok;
}

/* The last holder killed: a worker unmerges in its place */
static bool test_sys_killed_holder(void)
{
	const char *p = "sk-sys-killed";
	struct target a = { 0 }, b = { 0 };
	int ready[2], status;
	pid_t holder = 0;
	bool ok = false;
	char c;

	CHECK(twins_start(&a, &b, NPAGES, 500, 0), "start");
	CHECK(!pipe(ready), "pipe");
	holder = fork();
	CHECK(holder >= 0, "fork");
	if (!holder) {
		int fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0600);

		if (fd < 0 || fd_merge_all(fd, &a) != 0 ||
		    fd_merge_all(fd, &b) != NPAGES || sys_ksm_unlink(p))
			_exit(1);
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CHECK(read(ready[0], &c, 1) == 1, "holder merged");
	CHECK(frames_shared(&a, &b, 0, NPAGES, true), "merged");
	kill(holder, SIGKILL);
	CHECK(waitpid(holder, &status, 0) == holder, "wait holder");
	holder = 0;
	CHECK(wait_unbound(a.pid) && wait_unbound(b.pid), "still bound");
	CHECK(frames_shared(&a, &b, 0, NPAGES, false), "unmerged");
	ok = true;
out:
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	target_stop(&a);
	target_stop(&b);
	sys_ksm_unlink(p);
	return ok;
}

/* Bad arguments: EINVAL, EBADF, ESRCH, ENOMEM, EFAULT, ENAMETOOLONG */
static bool test_sys_bad_input(void)
{
	const char *p = "sk-sys-bad";
	struct target a = { 0 };
	int fd = -1, ro = -1, pidfd = -1, null = -1, dead = -1;
	int *fds[] = { &fd, &ro, &pidfd, &null, &dead };
	char longname[80];
	unsigned long base;
	bool ok = false;
	pid_t pid;

	memset(longname, 'a', 64);
	longname[64] = '\0';
	CHECK(target_start(&a, NPAGES, false), "start");
	CHECK(!target_do(&a, OP_FILL, 1, 1), "fill");
	base = addr_of(&a, 0);
	CHECK_ERR(sys_ksm_open(p, RW_SYNC | KSM_CREAT | 0x800, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(p, RW_SYNC | KSM_CREAT | O_CLOEXEC, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(p, O_ACCMODE | KSM_SYNC | KSM_CREAT, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(p, O_RDWR | KSM_CREAT, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(p, O_WRONLY | KSM_CREAT, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(p, RW_SYNC | KSM_CREAT, 01600), -EINVAL);
	CHECK_ERR(sys_ksm_open("Bad", RW_SYNC | KSM_CREAT, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open("", RW_SYNC | KSM_CREAT, 0600), -EINVAL);
	CHECK_ERR(sys_ksm_open(longname, RW_SYNC | KSM_CREAT, 0600), -ENAMETOOLONG);
	CHECK_ERR(sys_ksm_open(NULL, RW_SYNC | KSM_CREAT, 0600), -EFAULT);
	CHECK_ERR(sys_ksm_unlink(NULL), -EFAULT);
	CHECK_ERR(sys_ksm_unlink("a b"), -EINVAL);
	CHECK_ERR(sys_ksm_unlink(longname), -ENAMETOOLONG);
	CHECK(!part_exists(p), "created by a bad call");

	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0600);
	ro = sys_ksm_open(p, O_RDONLY | KSM_SYNC, 0);
	pidfd = sys_pidfd_open(a.pid);
	null = open("/dev/null", O_RDWR);
	CHECK(fd >= 0 && ro >= 0 && pidfd >= 0 && null >= 0, "set-up");
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base, a.len, 1), -EINVAL);
	CHECK_ERR(sys_ksm_unmerge(fd, pidfd, base, a.len, 1), -EINVAL);
	CHECK_ERR(sys_ksm_merge(-1, pidfd, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(1000, pidfd, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(null, pidfd, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(ro, pidfd, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_unmerge(ro, pidfd, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(fd, -1, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(fd, null, base, a.len, 0), -EBADF);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base + 1, a.len, 0), -EINVAL);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base, 0, 0), -EINVAL);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base, -1UL, 0), -EINVAL);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base, -base, 0), -EINVAL);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, -4096UL, PAGE, 0), -EINVAL);
	CHECK_ERR(sys_ksm_unmerge(fd, pidfd, base, 0, 0), -EINVAL);
	CHECK_ERR(sys_ksm_merge(fd, pidfd, PAGE, PAGE, 0), -ENOMEM);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	/* A length that is not a page multiple is rounded up */
	CHECK_ERR(sys_ksm_merge(fd, pidfd, base, a.len - PAGE + 1, 0), NPAGES - 1);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	/* A pidfd of a process that is gone */
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(0);
	dead = sys_pidfd_open(pid);
	CHECK(dead >= 0, "pidfd of the child");
	CHECK(waitpid(pid, NULL, 0) == pid, "reap");
	CHECK_ERR(sys_ksm_merge(fd, dead, base, a.len, 0), -ESRCH);
	CHECK_ERR(sys_ksm_unmerge(fd, dead, base, a.len, 0), -ESRCH);
	ok = true;
out:
	target_stop(&a);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	sys_ksm_unlink(p);
	return ok;
}

/* As USER_A: open another's partition with @acc, return errno of that */
struct open_as {
	const char *name;
	unsigned int flags;
	int want;
};

static bool open_as_fn(void *arg)
{
	struct open_as *o = arg;
	int fd = sys_ksm_open(o->name, o->flags, 0);

	if (fd >= 0)
		close(fd);
	if ((fd >= 0 ? 0 : fd) == o->want)
		return true;
	ksft_print_msg("uid %d: ksm_open(%s, %#x) = %d, expected %d\n",
		       getuid(), o->name, o->flags, fd, o->want);
	return false;
}

static bool unlink_as_fn(void *arg)
{
	struct open_as *o = arg;
	int err = sys_ksm_unlink(o->name);

	if (err == o->want)
		return true;
	ksft_print_msg("uid %d: ksm_unlink(%s) = %d, expected %d\n", getuid(),
		       o->name, err, o->want);
	return false;
}

/* Mode bits, umask, owner and group, checked like a file's */
static bool test_sys_modes(void)
{
	const char *p = "sk-sys-modes";
	struct open_as o = { .name = p };
	mode_t old = umask(0);
	struct stat st;
	bool ok = false;
	int fd = -1;

	/* Owner root: others read only */
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0644);
	CHECK(fd >= 0, "create");
	o.flags = O_RDONLY, o.want = 0;
	CHECK(as_user(USER_A, open_as_fn, &o), "read by others");
	o.flags = RW_SYNC, o.want = -EACCES;
	CHECK(as_user(USER_A, open_as_fn, &o), "write by others");
	o.flags = O_WRONLY | KSM_SYNC, o.want = -EACCES;
	CHECK(as_user(USER_A, open_as_fn, &o), "write only by others");
	o.want = -EPERM;
	CHECK(as_user(USER_A, unlink_as_fn, &o), "unlink by others");
	CHECK_ERR(sys_ksm_unlink(p), 0);
	close(fd);

	/* 0600: nothing for others; the umask applies at creation */
	umask(077);
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0666);
	CHECK(fd >= 0, "create");
	umask(0);
	o.flags = O_RDONLY, o.want = -EACCES;
	CHECK(as_user(USER_A, open_as_fn, &o), "umask 077");
	CHECK_ERR(sys_ksm_unlink(p), 0);
	close(fd);

	/* Group bits: created with gid USER_A, group read-write */
	CHECK(!setresgid(-1, USER_A, -1), "setegid");
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT, 0660);
	CHECK(!setresgid(-1, 0, -1), "setegid back");
	CHECK(fd >= 0, "create");
	o.flags = RW_SYNC, o.want = 0;
	CHECK(as_user(USER_A, open_as_fn, &o), "group member writes");
	o.want = -EACCES;
	CHECK(as_user(USER_B, open_as_fn, &o), "not a member");
	CHECK_ERR(sys_ksm_unlink(p), 0);
	close(fd);
	fd = -1;

	/* The sysfs files stay root's */
	CHECK(!stat(CONTROL "/add_partition", &st) && st.st_uid == 0 &&
	      (st.st_mode & 0777) == 0200, "add_partition");
	ok = true;
out:
	umask(old);
	if (fd >= 0)
		close(fd);
	sys_ksm_unlink(p);
	return ok;
}

/*
 * An unprivileged user merges its own processes in its own partition, and
 * gets EPERM for root's and another user's processes; other users get
 * EACCES for its partition and EPERM for unlinking it.
 */
struct user_merge {
	struct target *own, *own2, *root, *other;
	const char *name;
};

static bool user_merge_fn(void *arg)
{
	struct user_merge *u = arg;
	int fd, pidfd;
	bool ok = false;

	fd = sys_ksm_open(u->name, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
	CHECK(fd >= 0, "create as user: %s", strerror(-fd));
	CHECK_ERR(fd_merge_all(fd, u->own), 0);
	CHECK_ERR(fd_merge_all(fd, u->own2), NPAGES);
	CHECK_ERR(fd_merge_all(fd, u->root), -EPERM);
	CHECK_ERR(fd_merge_all(fd, u->other), -EPERM);
	pidfd = sys_pidfd_open(u->root->pid);
	CHECK(pidfd >= 0, "pidfd");
	CHECK_ERR(sys_ksm_unmerge(fd, pidfd, addr_of(u->root, 0), PAGE, 0),
		  -EPERM);
	close(pidfd);
	/* sysfs is root's */
	CHECK_ERR(part_add("sk-sys-user2"), -EACCES);
	CHECK_ERR(merge_all(u->name, u->own), -EACCES);
	CHECK_ERR(part_remove(u->name), -EACCES);
	/* fd stays open: the partition outlives this process only by name */
	ok = true;
out:
	return ok;
}

static bool test_sys_unprivileged(void)
{
	const char *p = "1000.sys-user";
	struct target own = { 0 }, own2 = { 0 }, root = { 0 }, other = { 0 };
	struct user_merge u = { &own, &own2, &root, &other, p };
	struct open_as o = { .name = p };
	bool ok = false;

	CHECK(twins_start(&own, &own2, NPAGES, 700, 0), "start own");
	CHECK(twins_start(&root, &other, NPAGES, 700, 0), "start others");
	CHECK(!target_do(&own, OP_SETUID, USER_A, 0), "own setuid");
	CHECK(!target_do(&own2, OP_SETUID, USER_A, 0), "own2 setuid");
	CHECK(!target_do(&other, OP_SETUID, USER_B, 0), "other setuid");
	CHECK(as_user(USER_A, user_merge_fn, &u), "as user %d", USER_A);
	/* Checked as root: the user's processes share frames, nobody else */
	CHECK(frames_shared(&own, &own2, 0, NPAGES, true), "own merged");
	CHECK(frames_shared(&own, &root, 0, NPAGES, false), "root untouched");
	CHECK(frames_shared(&own, &other, 0, NPAGES, false), "other untouched");
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	o.flags = O_RDONLY, o.want = -EACCES;
	CHECK(as_user(USER_B, open_as_fn, &o), "another user opens");
	o.want = -EPERM;
	CHECK(as_user(USER_B, unlink_as_fn, &o), "another user unlinks");
	o.want = 0;
	CHECK(as_user(USER_A, unlink_as_fn, &o), "the owner unlinks");
	CHECK(frames_shared(&own, &own2, 0, NPAGES, false), "unmerged");
	ok = true;
out:
	target_stop(&own);
	target_stop(&own2);
	target_stop(&root);
	target_stop(&other);
	sys_ksm_unlink(p);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Data integrity under concurrent writes                               */

#define STRESS_PAGES	128
#define STRESS_THREADS	2
#define STRESS_MERGES	40

struct stress {
	char *mem;
	volatile uint64_t *last;	/* last value written per page */
	volatile int *stop;
	int id;
};

static void *stress_writer(void *arg)
{
	struct stress *s = arg;
	uint64_t k = 0;

	while (!*s->stop) {
		size_t i;

		for (i = s->id; i < STRESS_PAGES; i += STRESS_THREADS) {
			/* Few distinct values: many pages are duplicates */
			uint64_t v = (k + i) % 3;

			fill_page(s->mem + i * PAGE, v);
			s->last[i] = v;
		}
		k++;
	}
	return NULL;
}

static bool test_stress_integrity(void)
{
	const char *p = "sk-stress";
	struct target peer = { 0 };
	int ctl[2], res[2];
	bool ok = false;
	pid_t pid = 0;
	char *mem;
	int i, bad = -1;
	char c;

	CHECK_ERR(part_add(p), 0);
	/* A peer whose pages hold the same values: stable tree hits */
	CHECK(target_start(&peer, 3, false), "start");
	CHECK(!target_do(&peer, OP_FILL, 0, 0), "fill");
	CHECK_ERR(merge_all(p, &peer), 0);

	mem = mmap(NULL, STRESS_PAGES * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK(!pipe(ctl) && !pipe(res), "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		static uint64_t last[STRESS_PAGES];
		struct stress st[STRESS_THREADS];
		pthread_t th[STRESS_THREADS];
		volatile int stop = 0;
		int nbad = 0;
		size_t j;

		for (j = 0; j < STRESS_PAGES; j++) {
			fill_page(mem + j * PAGE, 0);
			last[j] = 0;
		}
		for (j = 0; j < STRESS_THREADS; j++) {
			st[j] = (struct stress){ mem, last, &stop, (int)j };
			pthread_create(&th[j], NULL, stress_writer, &st[j]);
		}
		c = 1;
		if (write(res[1], &c, 1) != 1 || read(ctl[0], &c, 1) != 1)
			_exit(1);
		stop = 1;
		for (j = 0; j < STRESS_THREADS; j++)
			pthread_join(th[j], NULL);
		for (j = 0; j < STRESS_PAGES; j++)
			if (!page_holds(mem + j * PAGE, last[j]))
				nbad++;
		if (write(res[1], &nbad, sizeof(nbad)) != sizeof(nbad))
			_exit(1);
		if (read(ctl[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK(read(res[0], &c, 1) == 1, "writers started");
	for (i = 0; i < STRESS_MERGES; i++) {
		int err = part_merge(p, pid, (unsigned long)mem,
				     (unsigned long)mem + STRESS_PAGES * PAGE);

		if (err) {
			c = 0;
			if (write(ctl[1], &c, 1) != 1)
				break;
			CHECK(!err, "merge %d: %s", i, strerror(-err));
		}
		if (i % 10 == 9) {
			err = part_unmerge(p, pid, (unsigned long)mem,
					   (unsigned long)mem + STRESS_PAGES * PAGE / 2);
			CHECK(!err, "unmerge %d: %s", i, strerror(-err));
		}
	}
	c = 0;
	CHECK(write(ctl[1], &c, 1) == 1, "stop");
	CHECK(read(res[0], &bad, sizeof(bad)) == sizeof(bad), "result");
	CHECK(bad == 0, "%d pages do not hold the last value written", bad);
	/* Merge the now quiet range once more, then check exit cleanup */
	CHECK_ERR(part_merge(p, pid, (unsigned long)mem,
			     (unsigned long)mem + STRESS_PAGES * PAGE), 0);
	CHECK(counter(p, "pages_shared") > 0, "nothing merged");
	CHECK(write(ctl[1], &c, 1) == 1, "quit");
	waitpid(pid, NULL, 0);
	pid = 0;
	/* The peer's three pages are left: each shared alone, or unshared */
	CHECK(counter(p, "pages_shared") + counter(p, "pages_unshared") == 3 &&
	      counter(p, "pages_sharing") == 0 &&
	      counter(p, "merged_processes") == 1, "counters after the writer's exit");
	target_stop(&peer);
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	target_stop(&peer);
	part_remove(p);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Partitions and the rest of mm: swap, ksmd, migration                 */

#define SWAP_PAGES	64

/*
 * Fork the test process: the child keeps our memory and, for each byte
 * written to *@cmd, reads @len bytes from @mem (faulting them in) and
 * answers one byte on *@done. Its pid, or -1.
 */
static pid_t fork_reader(const char *mem, size_t len, int *cmd, int *done)
{
	int c[2], d[2];
	pid_t pid;

	if (pipe(c) || pipe(d))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		char b;

		close(c[1]);
		close(d[0]);
		while (read(c[0], &b, 1) == 1) {
			volatile char sum = 0;
			size_t i;

			for (i = 0; i < len; i += PAGE)
				sum += mem[i];
			(void)sum;
			if (write(d[1], &b, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(c[0]);
	close(d[1]);
	*cmd = c[1];
	*done = d[0];
	return pid;
}

static bool reader_touch(int cmd, int done)
{
	char b = 'r';

	return write(cmd, &b, 1) == 1 && read(done, &b, 1) == 1;
}

static void reader_stop(pid_t *pid, int *cmd, int *done)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	if (*cmd >= 0)
		close(*cmd);
	if (*done >= 0)
		close(*done);
	*pid = 0;
	*cmd = *done = -1;
}

/* Map @npages anonymous pages in the test process, page i holding @base + i */
static bool self_map(struct target *self, size_t npages, long base)
{
	size_t i;

	self->len = npages * PAGE;
	self->mem = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (self->mem == MAP_FAILED) {
		self->mem = NULL;
		return false;
	}
	self->pid = getpid();
	for (i = 0; i < npages; i++)
		fill_page(self->mem + i * PAGE, base + i);
	return true;
}

static void self_unmap(struct target *self)
{
	if (self->mem)
		munmap(self->mem, self->len);
	self->mem = NULL;
}

/* Pages [0, n) of @a never share a frame with the same pages of @b */
static bool frames_apart(struct target *a, struct target *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t pa = pfn_at(a, i), pb = pfn_at(b, i);

		if (pa && pa == pb) {
			ksft_print_msg("page %zu of %d and %d: one frame %#llx\n",
				       i, a->pid, b->pid, (unsigned long long)pa);
			return false;
		}
	}
	return true;
}

/*
 * P forks C; their shared pages go to swap; C faults them back, so that
 * each is mapped once but still held by P through its swap entry. Merging
 * C must not turn such a page into a KSM page of the partition: P's next
 * fault would map the partition's frame, here shared with d.
 */
static bool test_fork_swap_isolated(void)
{
	const char *p = "sk-fswap", *cg = "sk-fswap";
	struct target self = { 0 }, d = { 0 };
	int cmd = -1, done = -1;
	bool ok = false, in_cg = false;
	pid_t child = 0;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	/* d's pages wait in the partition's unstable tree */
	CHECK(target_start(&d, SWAP_PAGES, false), "start");
	CHECK(!target_do(&d, OP_FILL, 9100, 0), "fill");
	CHECK_ERR(merge_all(p, &d), 0);
	CHECK_COUNTERS(p, 0, 0, SWAP_PAGES, 1);
	/*
	 * The test process, in no partition, shares its pages with its child.
	 * (Memory is charged to the group it is touched in: enter it first.)
	 */
	CHECK_ERR(cg_create(cg), 0);
	CHECK_ERR(cg_write(cg, "memory.swap.max", "max"), 0);
	CHECK_ERR(cg_enter(cg, getpid()), 0);
	in_cg = true;
	CHECK(self_map(&self, SWAP_PAGES, 9100), "mmap");
	child = fork_reader(self.mem, self.len, &cmd, &done);
	CHECK(child > 0, "fork");
	{
		pid_t pids[2] = { getpid(), child };
		unsigned long addrs[2] = { addr_of(&self, 0), addr_of(&self, 0) };

		CHECK(cg_swap_out(cg, pids, addrs, 2, SWAP_PAGES, 400),
		      "not in swap: %ld and %ld of %d pages",
		      pages_swapped(getpid(), addrs[0], SWAP_PAGES),
		      pages_swapped(child, addrs[0], SWAP_PAGES), SWAP_PAGES);
	}
	CHECK(reader_touch(cmd, done), "the child faults its pages back");
	CHECK(pages_swapped(getpid(), addr_of(&self, 0), SWAP_PAGES) == SWAP_PAGES,
	      "the parent's pages came back too");
	CHECK_ERR(part_merge(p, child, addr_of(&self, 0), addr_of(&self, SWAP_PAGES)), 0);
	/* The parent faults its pages back: its own data, never d's frame */
	for (i = 0; i < SWAP_PAGES; i++)
		CHECK(page_holds(self.mem + i * PAGE, 9100 + i), "content of page %zu", i);
	CHECK(frames_apart(&self, &d, SWAP_PAGES),
	      "a process in no partition maps the partition's frames");
	for (i = 0; i < SWAP_PAGES; i++)
		CHECK(!target_do(&d, OP_CHECK, i, 9100 + i), "content of d's page %zu", i);
	ok = true;
out:
	reader_stop(&child, &cmd, &done);
	if (in_cg)
		sysfs_write("/sys/fs/cgroup/cgroup.procs", "%d", getpid());
	cg_destroy(cg);
	target_stop(&d);
	self_unmap(&self);
	part_remove(p);
	return ok;
}

/* Run ksmd until @scans more full scans are done; then stop it (run 0) */
static bool ksmd_scans(long scans)
{
	char path[] = KSM_SYSFS_DIR "/full_scans";
	long start = read_counter(path);
	int i;

	if (start < 0 || ksm_global_write("sleep_millisecs", "0") ||
	    ksm_global_write("pages_to_scan", "10000") ||
	    ksm_global_write("run", "1"))
		return false;
	for (i = 0; i < 3000 && read_counter(path) < start + scans; i++)
		usleep(10000);
	ksm_global_write("run", "0");
	return read_counter(path) >= start + scans;
}

/* ksmd's settings back to their defaults, its pages unmerged */
static void ksmd_reset(void)
{
	ksm_global_write("run", "2");
	ksm_global_write("run", "0");
	ksm_global_write("sleep_millisecs", "20");
	ksm_global_write("pages_to_scan", "100");
}

/*
 * P forks C, C is merged into a partition (pages it shares with P stay
 * apart), then P and q use ksmd. ksmd must not turn a page that C still
 * maps into a KSM page of its own: C would share q's frame.
 */
static bool test_ksmd_fork_isolated(void)
{
	const char *p = "sk-kfork";
	struct target self = { 0 }, q = { 0 };
	int cmd = -1, done = -1;
	bool ok = false;
	pid_t child = 0;
	size_t i;

	CHECK_ERR(part_add(p), 0);
	CHECK(self_map(&self, NPAGES, 9200), "mmap");
	child = fork_reader(self.mem, self.len, &cmd, &done);
	CHECK(child > 0, "fork");
	CHECK_ERR(part_merge(p, child, addr_of(&self, 0), addr_of(&self, NPAGES)), 0);
	CHECK(target_start(&q, NPAGES, false), "start");
	CHECK(!target_do(&q, OP_FILL, 9200, 0), "fill");
	/* q first on ksmd's list: its pages wait in ksmd's unstable tree */
	CHECK(!target_do(&q, OP_MADVISE, MADV_MERGEABLE, 0), "madvise q");
	CHECK(!madvise(self.mem, self.len, MADV_MERGEABLE), "madvise self");
	CHECK(ksmd_scans(4), "ksmd did not scan");
	for (i = 0; i < NPAGES; i++) {
		uint64_t c = pfn_of(child, addr_of(&self, i));

		CHECK(c && c != pfn_at(&q, i),
		      "page %zu: the child, bound to %s, maps ksmd's frame %#llx",
		      i, p, (unsigned long long)c);
	}
	for (i = 0; i < NPAGES; i++)
		CHECK(!target_do(&q, OP_CHECK, i, 9200 + i), "content of q's page %zu", i);
	ok = true;
out:
	ksmd_reset();
	reader_stop(&child, &cmd, &done);
	target_stop(&q);
	self_unmap(&self);
	part_remove(p);
	return ok;
}

/* Whether the page at @addr of @pid holds @v, read through /proc/PID/mem */
static bool page_of_holds(pid_t pid, unsigned long addr, uint64_t v)
{
	char path[64], buf[PAGE];
	bool ok;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ok = pread(fd, buf, PAGE, addr) == PAGE && page_holds(buf, v);
	close(fd);
	return ok;
}

/*
 * The other order: P forks C, P uses ksmd while a partition exists. Nobody
 * is bound, so ksmd merges P's pages shared by fork as it always did, and C
 * maps one of ksmd's KSM pages: the page P's duplicates were merged into,
 * which it shared with C. Then C is merged into the partition: it must stop
 * sharing ksmd's pages as it is bound, and ksmd must leave them apart.
 */
static bool test_bind_unshares_ksmd(void)
{
	const char *p = "sk-kbind";
	struct target self = { 0 };
	int cmd = -1, done = -1;
	uint64_t ksm_pfn;
	bool ok = false;
	pid_t child = 0;
	size_t i, shared = 0;

	CHECK_ERR(part_add(p), 0);
	CHECK(self_map(&self, NPAGES, 0), "mmap");
	for (i = 0; i < NPAGES; i++)
		fill_page(self.mem + i * PAGE, 9250);
	child = fork_reader(self.mem, self.len, &cmd, &done);
	CHECK(child > 0, "fork");
	CHECK(!madvise(self.mem, self.len, MADV_MERGEABLE), "madvise");
	CHECK(ksmd_scans(4), "ksmd did not scan");
	ksm_pfn = pfn_at(&self, 0);
	for (i = 0; i < NPAGES; i++) {
		CHECK(pfn_at(&self, i) == ksm_pfn, "ksmd did not merge our page %zu", i);
		shared += pfn_of(child, addr_of(&self, i)) == ksm_pfn;
	}
	CHECK(shared == 1, "the child shares %zu of ksmd's pages, not the one it was merged into",
	      shared);

	CHECK_ERR(part_merge(p, child, addr_of(&self, 0), addr_of(&self, NPAGES)), 0);
	CHECK(ksmd_scans(4), "ksmd did not scan");
	for (i = 0; i < NPAGES; i++) {
		uint64_t c = pfn_of(child, addr_of(&self, i));

		CHECK(c && c != pfn_at(&self, i),
		      "page %zu: the child, bound to %s, maps ksmd's frame %#llx",
		      i, p, (unsigned long long)c);
		CHECK(page_of_holds(child, addr_of(&self, i), 9250),
		      "content of the child's page %zu", i);
		CHECK(page_holds(self.mem + i * PAGE, 9250), "content of our page %zu", i);
	}
	ok = true;
out:
	ksmd_reset();
	reader_stop(&child, &cmd, &done);
	self_unmap(&self);
	part_remove(p);
	return ok;
}

/* Read every page of @t (faulting it in) and check its contents */
static bool target_read_check(struct target *t, size_t n, long base)
{
	size_t i;

	if (target_do(t, OP_READ, 0, 0))
		return false;
	for (i = 0; i < n; i++)
		if (target_do(t, OP_CHECK, i, base + i))
			return false;
	return true;
}

/*
 * Partition KSM pages reclaimed to swap and faulted back: every process
 * gets its own data back, and no frame is ever in two partitions
 */
static bool test_reclaim_isolated(void)
{
	const char *p1 = "sk-rcl1", *p2 = "sk-rcl2", *cg = "sk-rcl";
	struct target t[4] = { 0 };
	pid_t pids[4];
	unsigned long addrs[4];
	bool ok = false;
	int i;

	CHECK_ERR(part_add(p1), 0);
	CHECK_ERR(part_add(p2), 0);
	CHECK_ERR(cg_create(cg), 0);
	CHECK_ERR(cg_write(cg, "memory.swap.max", "max"), 0);
	for (i = 0; i < 4; i++) {
		CHECK(target_start(&t[i], SWAP_PAGES, false), "start");
		CHECK_ERR(cg_enter(cg, t[i].pid), 0);
		CHECK(!target_do(&t[i], OP_FILL, 9300, 0), "fill");
		CHECK_ERR(merge_all(i < 2 ? p1 : p2, &t[i]), 0);
		pids[i] = t[i].pid;
		addrs[i] = addr_of(&t[i], 0);
	}
	CHECK_COUNTERS(p1, SWAP_PAGES, SWAP_PAGES, 0, 2);
	CHECK_COUNTERS(p2, SWAP_PAGES, SWAP_PAGES, 0, 2);
	CHECK(cg_swap_out(cg, pids, addrs, 4, SWAP_PAGES, 400), "not all in swap");
	for (i = 0; i < 4; i++)
		CHECK(target_read_check(&t[i], SWAP_PAGES, 9300), "contents of %d", i);
	CHECK(frames_apart(&t[0], &t[2], SWAP_PAGES) && frames_apart(&t[0], &t[3], SWAP_PAGES) &&
	      frames_apart(&t[1], &t[2], SWAP_PAGES) && frames_apart(&t[1], &t[3], SWAP_PAGES),
	      "a frame in both partitions after swap-in");
	/* Merged again, and out and in again */
	for (i = 0; i < 4; i++)
		CHECK_ERR(merge_all(i < 2 ? p1 : p2, &t[i]), 0);
	CHECK(cg_swap_out(cg, pids, addrs, 4, SWAP_PAGES, 400), "not all in swap");
	for (i = 3; i >= 0; i--)
		CHECK(target_read_check(&t[i], SWAP_PAGES, 9300), "contents of %d", i);
	CHECK(frames_apart(&t[0], &t[2], SWAP_PAGES) && frames_apart(&t[0], &t[3], SWAP_PAGES) &&
	      frames_apart(&t[1], &t[2], SWAP_PAGES) && frames_apart(&t[1], &t[3], SWAP_PAGES),
	      "a frame in both partitions after the second swap-in");
	ok = true;
out:
	for (i = 0; i < 4; i++)
		target_stop(&t[i]);
	cg_destroy(cg);
	part_remove(p1);
	part_remove(p2);
	return ok;
}

#define MEMORY_DIR	"/sys/devices/system/memory"

/* The memory block (MEMORY_DIR/memory<N>) that holds frame @pfn, or -1 */
static long memory_block_of(uint64_t pfn)
{
	unsigned long size = 0;
	FILE *f = fopen(MEMORY_DIR "/block_size_bytes", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lx", &size) != 1 || !size)
		size = 0;
	fclose(f);
	return size ? (long)(pfn * PAGE / size) : -1;
}

/* Write @state ("offline" or "online_movable") to memory block @block */
static int memory_block_set(long block, const char *state)
{
	char path[128];

	snprintf(path, sizeof(path), MEMORY_DIR "/memory%ld/state", block);
	return sysfs_write(path, "%s", state);
}

/* The memory blocks of ZONE_MOVABLE: what can go offline */
static int movable_blocks(long *blocks, int max)
{
	char path[128], zones[64];
	int n = 0;
	long b;

	for (b = 0; b < 4096 && n < max; b++) {
		FILE *f;

		snprintf(path, sizeof(path), MEMORY_DIR "/memory%ld/valid_zones", b);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(zones, sizeof(zones), f) && !strcmp(zones, "Movable\n"))
			blocks[n++] = b;
		fclose(f);
	}
	return n;
}

/*
 * Partition KSM pages migrated, by taking their memory offline and by
 * compaction: merged within their partition as before, never across, their
 * contents intact. p2 is unlinked (only a descriptor holds it) and keeps
 * stable nodes of freed pages, whose block goes offline too when it can;
 * a later search in p2 meets those nodes. (The VM has a DIMM onlined as
 * ZONE_MOVABLE, whose every block can go offline.)
 */
static bool test_migration_isolated(void)
{
	const char *p1 = "sk-mig1", *p2 = "sk-mig2";
	struct target t[6] = { 0 }, late = { 0 };
	long movable[64], offline[3];
	int fd = -1, i, j, n = 0, nmov;
	uint64_t before, gone;
	bool ok = false;

	nmov = movable_blocks(movable, 64);
	CHECK(nmov >= 2, "%d movable memory blocks: no hotplugged DIMM?", nmov);
	CHECK_ERR(part_add(p1), 0);
	fd = sys_ksm_open(p2, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
	CHECK(fd >= 0, "create %s: %s", p2, strerror(-fd));
	CHECK_ERR(sys_ksm_unlink(p2), 0);
	for (i = 0; i < 6; i++) {
		CHECK(target_start(&t[i], NPAGES, false), "start");
		CHECK(!target_do(&t[i], OP_FILL, i < 4 ? 9400 : 9500, 0), "fill");
	}
	CHECK_ERR(merge_all(p1, &t[0]), 0);
	CHECK_ERR(merge_all(p1, &t[1]), 0);
	for (i = 2; i < 6; i++)
		CHECK(fd_merge_all(fd, &t[i]) >= 0, "merge %d", i);
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, true), "p1 merged");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "p2 merged");
	CHECK(frames_shared(&t[4], &t[5], 0, NPAGES, true), "p2 merged");
	/* t[4] and t[5] exit: their pages are freed */
	gone = pfn_at(&t[4], 0);
	target_stop(&t[4]);
	target_stop(&t[5]);

	/* Offline the blocks of a p1 page, a p2 page and a freed p2 page */
	before = pfn_at(&t[0], 0);
	{
		uint64_t pfns[3] = { before, pfn_at(&t[2], 0), gone };

		for (i = 0; i < 3; i++) {
			long b = memory_block_of(pfns[i]);
			bool movable_block = false, done = false;

			for (j = 0; j < nmov; j++)
				movable_block |= movable[j] == b;
			for (j = 0; j < n; j++)
				done |= offline[j] == b;
			/* The freed page may be anywhere */
			CHECK(movable_block || i == 2, "pfn %#llx in memory%ld, not movable",
			      (unsigned long long)pfns[i], b);
			if (!movable_block || done)
				continue;
			CHECK_ERR(memory_block_set(b, "offline"), 0);
			offline[n++] = b;
		}
	}
	CHECK(pfn_at(&t[0], 0) != before, "page 0 of p1 did not move");
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, true), "p1 after offlining");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "p2 after offlining");
	CHECK(frames_apart(&t[0], &t[2], NPAGES), "across after offlining");

	CHECK_ERR(sysfs_write("/proc/sys/vm/compact_memory", "1"), 0);
	CHECK(frames_shared(&t[0], &t[1], 0, NPAGES, true), "p1 after compaction");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "p2 after compaction");
	CHECK(frames_apart(&t[0], &t[2], NPAGES), "across after compaction");
	for (i = 0; i < 4; i++)
		CHECK(target_read_check(&t[i], NPAGES, 9400), "contents of %d", i);
	CHECK_COUNTERS(p1, NPAGES, NPAGES, 0, 2);
	CHECK(fdinfo_counter(fd, "pages_shared") == NPAGES &&
	      fdinfo_counter(fd, "pages_sharing") == NPAGES,
	      "p2: pages_shared %ld pages_sharing %ld",
	      fdinfo_counter(fd, "pages_shared"), fdinfo_counter(fd, "pages_sharing"));
	/* The freed pages' contents again: a search meets their nodes */
	CHECK(target_start(&late, NPAGES, false), "start");
	CHECK(!target_do(&late, OP_FILL, 9500, 0), "fill");
	CHECK(fd_merge_all(fd, &late) >= 0, "merge after offlining");
	CHECK(fd_merge_all(fd, &t[2]) >= 0, "merge again after offlining");
	CHECK(frames_shared(&t[2], &t[3], 0, NPAGES, true), "p2 at the end");
	ok = true;
out:
	for (i = 0; i < n; i++)
		memory_block_set(offline[i], "online_movable");
	for (i = 0; i < 6; i++)
		target_stop(&t[i]);
	target_stop(&late);
	if (fd >= 0)
		close(fd);
	part_remove(p1);
	return ok;
}

/*
 * A THP shared by fork is never turned into a partition's KSM page, and
 * refusing it does not split it
 */
static bool test_thp_fork_shared_unsplit(void)
{
	const char *p = "sk-thpf";
	size_t n = THP_SIZE / PAGE, i;
	struct target self = { 0 }, b = { 0 };
	int cmd = -1, done = -1;
	bool ok = false;
	char *raw = MAP_FAILED;
	pid_t child = 0;

	CHECK_ERR(part_add(p), 0);
	raw = mmap(NULL, 2 * THP_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(raw != MAP_FAILED, "mmap");
	self.mem = (char *)(((uintptr_t)raw + THP_SIZE - 1) & ~(THP_SIZE - 1));
	self.len = THP_SIZE;
	self.pid = getpid();
	CHECK(!madvise(self.mem, THP_SIZE, MADV_HUGEPAGE), "MADV_HUGEPAGE");
	for (i = 0; i < n; i++)
		fill_page(self.mem + i * PAGE, 6100 + i);
	CHECK(thp_kb(getpid()) >= 2048, "no THP: %ld kB", thp_kb(getpid()));
	child = fork_reader(self.mem, self.len, &cmd, &done);
	CHECK(child > 0, "fork");
	/* b's page equals page 5 of the THP the child shares */
	CHECK(target_start(&b, 1, false), "start");
	CHECK(!target_do(&b, OP_FILL, 6105, 0), "fill");
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_ERR(part_merge(p, child, addr_of(&self, 0), addr_of(&self, n)), 0);
	CHECK(pfn_of(child, addr_of(&self, 5)) != pfn_at(&b, 0), "shared page merged");
	CHECK(thp_kb(child) >= 2048, "the THP was split for nothing: %ld kB",
	      thp_kb(child));
	ok = true;
out:
	reader_stop(&child, &cmd, &done);
	target_stop(&b);
	if (raw != MAP_FAILED)
		munmap(raw, 2 * THP_SIZE);
	part_remove(p);
	return ok;
}

/* ------------------------------------------------------------------ */
/* The interface: numbers, names, permissions, global knobs              */

/*
 * The syscalls come after mainline's newest one (rseq_slice_yield, 471):
 * 463 to 466 are setxattrat() to removexattrat() since 6.13, and a
 * program that probes those must not reach a KSM partition
 */
static bool test_syscall_numbers(void)
{
	bool ok = false;
	long n;

	CHECK(__NR_ksm_open == 472 && __NR_ksm_unlink == 473 &&
	      __NR_ksm_merge == 474 && __NR_ksm_unmerge == 475,
	      "numbers %d %d %d %d", __NR_ksm_open, __NR_ksm_unlink,
	      __NR_ksm_merge, __NR_ksm_unmerge);
	for (n = 463; n <= 466; n++) {
		long r = syscall(n, NULL, 0, 0, 0, 0);

		CHECK(r == -1 && errno == ENOSYS, "syscall %ld: %ld (%s)", n, r,
		      errname(r == -1 ? errno : 0));
	}
	ok = true;
out:
	return ok;
}

/* A partition's "owner" ("uid gid") and "mode" (octal) files */
static bool owner_mode_are(const char *name, const char *owner, const char *mode)
{
	char path[256], buf[64];
	const char *want[2] = { owner, mode }, *file[2] = { "owner", "mode" };
	int i, fd;
	ssize_t n;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), PARTITIONS "/%s/%s", name, file[i]);
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			ksft_print_msg("%s: %s\n", path, strerror(errno));
			return false;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (strcmp(buf, want[i])) {
			ksft_print_msg("%s: \"%s\", expected \"%s\"\n", path, buf, want[i]);
			return false;
		}
	}
	return true;
}

static bool name_space_fn(void *arg)
{
	long max = *(long *)arg;
	char names[64][32];
	int fds[64], n = 0, fd, i;
	bool ok = false;

	/* Names of others: plain ones are CAP_SYS_ADMIN's, "<uid>.*" a user's */
	CHECK_ERR(sys_ksm_open("sk-squat", RW_SYNC | KSM_CREAT, 0600), -EPERM);
	CHECK_ERR(sys_ksm_open("1001.squat", RW_SYNC | KSM_CREAT, 0600), -EPERM);
	CHECK_ERR(sys_ksm_open("sk-squat-root", O_RDONLY, 0), -EACCES);
	fd = sys_ksm_open("1000.mine", RW_SYNC | KSM_CREAT | KSM_EXCL, 0640);
	CHECK(fd >= 0, "create 1000.mine: %s", strerror(-fd));
	CHECK(owner_mode_are("1000.mine", "1000 1000\n", "0640\n"), "owner and mode");
	close(fd);
	CHECK_ERR(sys_ksm_unlink("1000.mine"), 0);
	/* Up to the per-user limit, then EDQUOT */
	for (n = 0; n < max && n < 64; n++) {
		snprintf(names[n], sizeof(names[n]), "1000.p%d", n);
		fds[n] = sys_ksm_open(names[n], RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
		CHECK(fds[n] >= 0, "create %s: %s", names[n], strerror(-fds[n]));
	}
	CHECK_ERR(sys_ksm_open("1000.over", RW_SYNC | KSM_CREAT, 0600), -EDQUOT);
	/* An unlinked one counts until its last close */
	CHECK_ERR(sys_ksm_unlink(names[0]), 0);
	CHECK_ERR(sys_ksm_open("1000.over", RW_SYNC | KSM_CREAT, 0600), -EDQUOT);
	close(fds[0]);
	fds[0] = -1;
	fd = sys_ksm_open("1000.over", RW_SYNC | KSM_CREAT, 0600);
	CHECK(fd >= 0, "create after the last close: %s", strerror(-fd));
	close(fd);
	CHECK_ERR(sys_ksm_unlink("1000.over"), 0);
	ok = true;
out:
	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		sys_ksm_unlink(names[i]);
	}
	return ok;
}

static bool user_create_refused_fn(void *arg)
{
	bool ok = false;

	(void)arg;
	CHECK_ERR(sys_ksm_open("1000.mine", RW_SYNC | KSM_CREAT, 0600), -EDQUOT);
	ok = true;
out:
	return ok;
}

/*
 * Only CAP_SYS_ADMIN creates plain names (the names a node agent uses);
 * others create "<uid>.<name>" of their own uid only, up to
 * control/max_user_partitions (0: none). Owner and mode are in sysfs.
 */
static bool test_name_space(void)
{
	long max = read_counter(CONTROL "/max_user_partitions");
	bool ok = false;

	CHECK(max > 0 && max <= 64, "max_user_partitions %ld", max);
	CHECK_ERR(part_add("sk-squat-root"), 0);
	CHECK(owner_mode_are("sk-squat-root", "0 0\n", "0600\n"), "root's");
	CHECK(as_user(USER_A, name_space_fn, &max), "as user %d", USER_A);
	CHECK(!part_exists("sk-squat") && !part_exists("1001.squat"),
	      "a user made a name not its own");
	CHECK_ERR(sysfs_write(CONTROL "/max_user_partitions", "0"), 0);
	CHECK(as_user(USER_A, user_create_refused_fn, NULL), "with limit 0");
	ok = true;
out:
	if (max > 0)
		sysfs_write(CONTROL "/max_user_partitions", "%ld", max);
	part_remove("sk-squat-root");
	return ok;
}

#define YAMA_SCOPE	"/proc/sys/kernel/yama/ptrace_scope"

/*
 * Merge @t's area into @p through sysfs (@fd < 0) or with ksm_merge() on
 * @fd, from a child of ours (a sibling of @t), without CAP_SYS_PTRACE if
 * @drop: 0 or -errno
 */
static int merge_from_child(const char *p, int fd, struct target *t, bool drop)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid) {
		long r;

		if (drop && drop_caps(1U << CAP_SYS_PTRACE))
			_exit(255);
		r = fd >= 0 ? fd_merge_all(fd, t) : merge_all(p, t);
		_exit(r < 0 ? -r : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

struct scope_arg {
	struct target *own;	/* the user's, not its descendant */
	long want_child;	/* result of merging a child of its own: 0 any count */
	long want_own;		/* result of merging @own */
};

/* As USER_A: merge a child of its own, and a process of its own that is not */
static bool scope_user_fn(void *arg)
{
	struct scope_arg *a = arg;
	size_t len = NPAGES * PAGE, i;
	int fd = -1, pidfd = -1, sync[2] = { -1, -1 };
	bool ok = false;
	pid_t kid = 0;
	char *mem, c;
	long r;

	fd = sys_ksm_open("1000.scope", RW_SYNC | KSM_CREAT, 0600);
	CHECK(fd >= 0, "create: %s", strerror(-fd));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED && !pipe(sync), "mmap, pipe");
	kid = fork();
	CHECK(kid >= 0, "fork");
	if (!kid) {
		/* setuid made the mm undumpable, which only CAP_SYS_PTRACE traces */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		for (i = 0; i < NPAGES; i++)
			fill_page(mem + i * PAGE, 33);
		if (write(sync[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	CHECK(read(sync[0], &c, 1) == 1, "child ready");
	pidfd = sys_pidfd_open(kid);
	CHECK(pidfd >= 0, "pidfd");
	r = sys_ksm_merge(fd, pidfd, (unsigned long)mem, len, 0);
	CHECK(a->want_child ? r == a->want_child : r >= 0,
	      "merge of an own child: %ld (%s)", r, errname(r < 0 ? -r : 0));
	r = fd_merge_all(fd, a->own);
	CHECK(a->want_own ? r == a->want_own : r >= 0,
	      "merge of an own process, not a child: %ld (%s)", r,
	      errname(r < 0 ? -r : 0));
	ok = true;
out:
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (fd >= 0)
		close(fd);
	sys_ksm_unlink("1000.scope");
	return ok;
}

/*
 * One rule for both interfaces: ptrace-attach rights over the target, as
 * the ptrace rules, Yama's ptrace_scope and the LSMs decide. CAP_SYS_ADMIN
 * (which sysfs needs as well) never stands in for them. The mergers here
 * are children of the test, siblings of the targets, so not their
 * ptrace parents; "capless" is a root process without capabilities.
 */
static bool test_ptrace_scope(void)
{
	const char *p = "sk-scope";
	struct target capless = { 0 }, other = { 0 }, own = { 0 };
	struct scope_arg u = { &own, 0, 0 };
	long saved = read_counter(YAMA_SCOPE);
	bool ok = false;
	int fd = -1;

	CHECK(saved >= 0, "no %s: kernel without Yama?", YAMA_SCOPE);
	CHECK_ERR(part_add(p), 0);
	fd = sys_ksm_open(p, RW_SYNC, 0);
	CHECK(fd >= 0, "open: %s", strerror(-fd));
	CHECK(twins_start(&capless, &other, NPAGES, 34, 1), "start");
	CHECK(target_start(&own, NPAGES, false) && !target_do(&own, OP_FILL, 35, 1), "start");
	CHECK(!target_do(&capless, OP_DROP_CAPS, 0, 0), "drop capabilities");
	CHECK(!target_do(&other, OP_SETUID, 65534, 0), "setuid");
	CHECK(!target_do(&own, OP_SETUID, USER_A, 0), "setuid");

	/* 0: the ptrace rules only: same uid, or CAP_SYS_PTRACE */
	CHECK_ERR(sysfs_write(YAMA_SCOPE, "0"), 0);
	CHECK_ERR(merge_from_child(p, -1, &capless, true), 0);
	CHECK_ERR(merge_from_child(p, fd, &capless, true), 0);
	CHECK_ERR(merge_from_child(p, -1, &other, true), -EPERM);
	CHECK_ERR(merge_from_child(p, fd, &other, true), -EPERM);
	CHECK_ERR(merge_from_child(p, -1, &other, false), 0);
	u.want_child = 0, u.want_own = 0;
	CHECK(as_user(USER_A, scope_user_fn, &u), "user at scope 0");

	/* 1: only descendants, unless CAP_SYS_PTRACE */
	CHECK_ERR(sysfs_write(YAMA_SCOPE, "1"), 0);
	CHECK_ERR(merge_from_child(p, -1, &capless, true), -EPERM);
	CHECK_ERR(merge_from_child(p, fd, &capless, true), -EPERM);
	CHECK_ERR(merge_from_child(p, -1, &capless, false), 0);
	CHECK_ERR(merge_from_child(p, fd, &other, false), 0);
	u.want_child = 0, u.want_own = -EPERM;
	CHECK(as_user(USER_A, scope_user_fn, &u), "user at scope 1");

	/* 2: CAP_SYS_PTRACE only */
	CHECK_ERR(sysfs_write(YAMA_SCOPE, "2"), 0);
	CHECK_ERR(merge_from_child(p, -1, &capless, true), -EPERM);
	CHECK_ERR(merge_from_child(p, fd, &capless, true), -EPERM);
	CHECK_ERR(merge_from_child(p, -1, &other, false), 0);
	CHECK_ERR(merge_from_child(p, fd, &other, false), 0);
	u.want_child = -EPERM, u.want_own = -EPERM;
	CHECK(as_user(USER_A, scope_user_fn, &u), "user at scope 2");
	ok = true;
out:
	if (saved >= 0)
		sysfs_write(YAMA_SCOPE, "%ld", saved);
	target_stop(&capless);
	target_stop(&other);
	target_stop(&own);
	if (fd >= 0)
		close(fd);
	part_remove(p);
	return ok;
}

/*
 * Partitions keep the max_page_sharing they were made with: root can tune
 * ksmd's while any exists (a user's partition cannot block that)
 */
static bool test_max_page_sharing_tunable(void)
{
	char path[] = KSM_SYSFS_DIR "/max_page_sharing";
	const char *p = "sk-mps";
	long saved = read_counter(path);
	bool ok = false;

	CHECK(saved > 2, "max_page_sharing %ld", saved);
	CHECK_ERR(part_add(p), 0);
	CHECK_ERR(sysfs_write(path, "%ld", saved - 1), 0);
	CHECK(read_counter(path) == saved - 1, "not changed");
	CHECK_ERR(sysfs_write(path, "%ld", saved), 0);
	ok = true;
out:
	part_remove(p);
	if (saved > 0)
		sysfs_write(path, "%ld", saved);
	return ok;
}

#define TRACING		"/sys/kernel/tracing"
#define DRAIN_CALLS	2000

/* A process on CPU 1 that keeps faulting fresh pages into that CPU's LRU batch */
static pid_t start_faulter(void)
{
	cpu_set_t cpus;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	for (;;) {
		char *m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			_exit(1);
		for (int i = 0; i < 8; i++)
			m[i * PAGE] = 1;
		munmap(m, 8 * PAGE);
	}
}

/* How many times the trace buffer shows work queued for @function */
static long trace_count(const char *function)
{
	char line[512];
	long n = 0;
	FILE *f = fopen(TRACING "/trace", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, function) != NULL;
	fclose(f);
	return n;
}

/*
 * As USER_A, pinned to CPU 0: tiny merges of a page of its own that was
 * just written, DRAIN_CALLS times; the time they took in *@arg
 */
static bool drain_loop_fn(void *arg)
{
	double *secs = arg, t0;
	cpu_set_t cpus;
	int fd = -1, pidfd = -1, i;
	bool ok = false;
	char *mem;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	CHECK(!sched_setaffinity(0, sizeof(cpus), &cpus), "affinity");
	fd = sys_ksm_open("1000.drain", RW_SYNC | KSM_CREAT, 0600);
	CHECK(fd >= 0, "create: %s", strerror(-fd));
	mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	pidfd = sys_pidfd_open(getpid());
	CHECK(pidfd >= 0, "pidfd");
	t0 = now_seconds();
	for (i = 0; i < DRAIN_CALLS; i++) {
		/* A fresh page each time, that another CPU may still hold */
		CHECK(!madvise(mem, PAGE, MADV_DONTNEED), "MADV_DONTNEED");
		fill_page(mem, i);
		CHECK(sys_ksm_merge(fd, pidfd, (unsigned long)mem, PAGE, 0) >= 0,
		      "merge %d", i);
	}
	*secs = now_seconds() - t0;
	ok = true;
out:
	if (pidfd >= 0)
		close(pidfd);
	if (fd >= 0)
		close(fd);
	sys_ksm_unlink("1000.drain");
	return ok;
}

/*
 * A user's tiny merges in a loop, while another CPU keeps pages in its
 * per-CPU LRU batch: they must not drain every CPU's batch (work queued on
 * each CPU) call after call. Counted with the workqueue_queue_work
 * tracepoint.
 */
static bool test_lru_drain_bounded(void)
{
	double *secs = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t faulter = 0;
	bool ok = false;
	long drains;

	CHECK(secs != MAP_FAILED, "mmap");
	CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 2, "needs two CPUs");
	if (access(TRACING "/trace", F_OK))
		CHECK(!mount("nodev", TRACING, "tracefs", 0, NULL), "mount tracefs");
	faulter = start_faulter();
	CHECK(faulter > 0, "fork");
	CHECK_ERR(sysfs_write(TRACING "/buffer_size_kb", "8192"), 0);
	CHECK_ERR(sysfs_write(TRACING "/trace", "%s", ""), 0);
	CHECK_ERR(sysfs_write(TRACING "/events/workqueue/workqueue_queue_work/enable", "1"), 0);
	CHECK(as_user(USER_A, drain_loop_fn, secs), "merges as user %d", USER_A);
	CHECK_ERR(sysfs_write(TRACING "/events/workqueue/workqueue_queue_work/enable", "0"), 0);
	drains = trace_count("function=lru_add_drain_per_cpu");
	ksft_print_msg("%d merges of one page in %.2f s queued %ld LRU drains\n",
		       DRAIN_CALLS, *secs, drains);
	/* At most one drain of all CPUs per 100 ms */
	CHECK(drains >= 0 && drains <= (long)(*secs * 10 * 2) + 2, "%ld drains", drains);
	ok = true;
out:
	sysfs_write(TRACING "/events/workqueue/workqueue_queue_work/enable", "0");
	if (faulter > 0) {
		kill(faulter, SIGKILL);
		waitpid(faulter, NULL, 0);
	}
	if (secs != MAP_FAILED)
		munmap(secs, PAGE);
	return ok;
}

#define TIGHT_PAGES	256

/*
 * Removal while unmerging cannot allocate (the processes' memcg is at its
 * limit, no swap, and they are not OOM-killable): the processes stay
 * merged and bound, a worker retries, and finishes once memory is there.
 * Never a partition kept forever.
 */
static bool test_teardown_retry(void)
{
	const char *p = "sk-tight", *cg = "sk-tight";
	struct target a = { 0 }, b = { 0 };
	char name[64];
	long current;
	bool ok = false;
	int i;

	CHECK_ERR(part_add(p), 0);
	CHECK_ERR(cg_create(cg), 0);
	CHECK_ERR(cg_write(cg, "memory.swap.max", "0"), 0);
	CHECK(target_start(&a, TIGHT_PAGES, false) &&
	      target_start(&b, TIGHT_PAGES, false), "start");
	CHECK_ERR(cg_enter(cg, a.pid), 0);
	CHECK_ERR(cg_enter(cg, b.pid), 0);
	CHECK(!target_do(&a, OP_FILL, 9600, 0) && !target_do(&b, OP_FILL, 9600, 0), "fill");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, TIGHT_PAGES, TIGHT_PAGES, 0, 2);
	for (i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", i ? b.pid : a.pid);
		CHECK_ERR(sysfs_write(path, "-1000"), 0);
	}
	current = cg_read(cg, "memory.current");
	CHECK(current > 0, "memory.current");
	/* Room for a few pages, not for the copies unmerging needs */
	CHECK_ERR(cg_write(cg, "memory.max", "%ld", current + 16 * PAGE), 0);
	CHECK_ERR(part_remove(p), 0);
	CHECK(!part_exists(p), "the name is still there");
	usleep(300000);
	CHECK(ksm_stat_partition(a.pid, name, sizeof(name)) && !strcmp(name, p),
	      "unbound without memory to unmerge: %s", name);
	/* Memory comes back: the worker finishes */
	CHECK_ERR(cg_write(cg, "memory.max", "max"), 0);
	CHECK(wait_unbound(a.pid) && wait_unbound(b.pid), "still bound after 10 s");
	CHECK(frames_shared(&a, &b, 0, TIGHT_PAGES, false), "still merged");
	for (i = 0; i < TIGHT_PAGES; i++)
		CHECK(!target_do(&a, OP_CHECK, i, 9600 + i), "content of page %d", i);
	/* The name is free again */
	CHECK_ERR(part_add(p), 0);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	cg_destroy(cg);
	part_remove(p);
	return ok;
}

/*
 * A merge of a range forgets the entries of pages no longer there: zapped
 * by MADV_DONTNEED, or swapped out. Its counters are exact again.
 */
static bool test_remerge_exact(void)
{
	const char *p = "sk-exact", *cg = "sk-exact";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;

	CHECK_ERR(part_add(p), 0);
	CHECK_ERR(cg_create(cg), 0);
	CHECK_ERR(cg_write(cg, "memory.swap.max", "max"), 0);
	CHECK(target_start(&a, NPAGES, false) && target_start(&b, NPAGES, false), "start");
	CHECK_ERR(cg_enter(cg, a.pid), 0);
	CHECK_ERR(cg_enter(cg, b.pid), 0);
	CHECK(!target_do(&a, OP_FILL, 9700, 0) && !target_do(&b, OP_FILL, 9700, 0), "fill");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	CHECK(!target_do(&a, OP_DONTNEED, 0, 8), "MADV_DONTNEED");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES - 8, 0, 2);
	/* Both swapped out: nothing of theirs is merged any more */
	{
		pid_t pids[2] = { a.pid, b.pid };
		unsigned long addrs[2] = { addr_of(&a, 8), addr_of(&b, 0) };

		CHECK(cg_swap_out(cg, pids, addrs, 1, NPAGES - 8, 400) &&
		      cg_swap_out(cg, pids + 1, addrs + 1, 1, NPAGES, 400),
		      "not in swap");
	}
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, 0, 0, 0, 2);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	cg_destroy(cg);
	part_remove(p);
	return ok;
}

/* Wait up to 10 s for the counters of @p to be these (a worker counts) */
static bool counters_become(const char *p, long shared, long sharing,
			    long unshared, long procs)
{
	struct counters c;
	int i;

	for (i = 0; i < 1000; i++) {
		c = counters_of(p);
		if (c.shared == shared && c.sharing == sharing &&
		    c.unshared == unshared && c.procs == procs)
			return true;
		usleep(10000);
	}
	return counters_are(p, shared, sharing, unshared, procs);
}

/*
 * A child forked from a bound process maps the partition's KSM pages: its
 * mappings are counted without merging it, and stay counted when the
 * parent exits
 */
static bool test_children_counted(void)
{
	const char *p = "sk-kids";
	struct target a = { 0 };
	bool ok = false;
	pid_t child;

	CHECK_ERR(part_add(p), 0);
	CHECK(target_start(&a, NPAGES, false) && !target_do(&a, OP_FILL, 78, 1), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	CHECK(!target_do(&a, OP_FORK, 0, 0), "fork");
	CHECK(counters_become(p, 1, 2 * NPAGES - 1, 0, 2), "the child is not counted");
	/* Merging the child changes nothing: it is counted already */
	CHECK_ERR(part_merge(p, a.child, addr_of(&a, 0), addr_of(&a, NPAGES)), 0);
	CHECK_COUNTERS(p, 1, 2 * NPAGES - 1, 0, 2);
	/* The parent exits: the child's mappings remain, and are counted */
	child = a.child;
	a.child = 0;
	target_stop(&a);
	CHECK_COUNTERS(p, 1, NPAGES - 1, 0, 1);
	kill(child, SIGKILL);
	CHECK(wait_exited(child), "child exit");
	CHECK_COUNTERS(p, 0, 0, 0, 0);
	ok = true;
out:
	target_stop(&a);
	part_remove(p);
	return ok;
}

#define CHURN_CYCLES	50

/*
 * Processes come, merge and go: the stable nodes of pages that are gone are
 * freed, so a partition's tree stays the size of what is merged now
 */
static bool test_churn_bounded(void)
{
	const char *p = "sk-churn";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;
	long nodes;
	int i;

	CHECK_ERR(part_add(p), 0);
	for (i = 0; i < CHURN_CYCLES; i++) {
		CHECK(twins_start(&a, &b, NPAGES, 20000 + i * NPAGES, 0), "start");
		CHECK_ERR(merge_all(p, &a), 0);
		CHECK_ERR(merge_all(p, &b), 0);
		target_stop(&a);
		target_stop(&b);
	}
	/* One more pair, merged now */
	CHECK(twins_start(&a, &b, NPAGES, 30000, 0), "start");
	CHECK_ERR(merge_all(p, &a), 0);
	CHECK_ERR(merge_all(p, &b), 0);
	CHECK_COUNTERS(p, NPAGES, NPAGES, 0, 2);
	nodes = counter(p, "stable_nodes");
	ksft_print_msg("%d cycles of %d merged pages: %ld stable nodes\n",
		       CHURN_CYCLES + 1, NPAGES, nodes);
	CHECK(nodes >= NPAGES && nodes <= 3 * NPAGES + 64,
	      "%ld stable nodes for %d merged pages", nodes, NPAGES);
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

#define SIG_PAGES	4096

static void on_usr1(int sig)
{
	(void)sig;
}

struct pinger {
	pthread_t to;
	volatile bool stop;
};

static void *ping(void *arg)
{
	struct pinger *pg = arg;

	while (!pg->stop) {
		pthread_kill(pg->to, SIGUSR1);
		usleep(500);
	}
	return NULL;
}

/* An unmerge goes on through signals it is sent, as long as they are not fatal */
static bool test_unmerge_signal(void)
{
	const char *p = "sk-sig";
	struct target a = { 0 }, b = { 0 };
	struct pinger pg = { pthread_self(), false };
	struct sigaction sa = { .sa_handler = on_usr1 };
	pthread_t th;
	bool ok = false, pinging = false;
	int fd = -1, pidfd = -1;
	long r;

	CHECK(!sigaction(SIGUSR1, &sa, NULL), "sigaction");
	CHECK_ERR(part_add(p), 0);
	fd = sys_ksm_open(p, RW_SYNC, 0);
	CHECK(fd >= 0, "open: %s", strerror(-fd));
	CHECK(twins_start(&a, &b, SIG_PAGES, 40000, 0), "start");
	CHECK(fd_merge_all(fd, &a) >= 0 && fd_merge_all(fd, &b) == SIG_PAGES, "merge");
	pidfd = sys_pidfd_open(a.pid);
	CHECK(pidfd >= 0, "pidfd");
	CHECK(!pthread_create(&th, NULL, ping, &pg), "thread");
	pinging = true;
	r = sys_ksm_unmerge(fd, pidfd, addr_of(&a, 0), a.len, 0);
	CHECK(r == 0, "unmerge with signals arriving: %ld (%s)", r, errname(r < 0 ? -r : 0));
	r = part_unmerge(p, b.pid, addr_of(&b, 0), addr_of(&b, 0) + b.len);
	CHECK(r == 0, "sysfs unmerge with signals arriving: %ld (%s)", r, errname(-r));
	CHECK(frames_shared(&a, &b, 0, SIG_PAGES, false), "still merged");
	ok = true;
out:
	if (pinging) {
		pg.stop = true;
		pthread_join(th, NULL);
	}
	signal(SIGUSR1, SIG_DFL);
	if (pidfd >= 0)
		close(pidfd);
	if (fd >= 0)
		close(fd);
	target_stop(&a);
	target_stop(&b);
	part_remove(p);
	return ok;
}

/* ------------------------------------------------------------------ */
/* A partition held while upstream's KSM tests run                      */

#define HELD_PAGES	256

/*
 * --hold: merge two processes into a partition, say so on stdout, and keep
 * them merged until SIGTERM; then check that nothing disturbed them. The
 * test script runs upstream's KSM tests meanwhile, which must pass as on
 * an idle kernel and leave the partition alone.
 */
static bool hold_partition(void)
{
	const char *p = "sk-held";
	struct target a = { 0 }, b = { 0 };
	bool ok = false;
	sigset_t set;
	int fd = -1, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	CHECK(twins_start(&a, &b, HELD_PAGES, 4000, 0), "start");
	fd = sys_ksm_open(p, RW_SYNC | KSM_CREAT | KSM_EXCL, 0600);
	CHECK(fd >= 0, "create %s: %s", p, strerror(-fd));
	CHECK_ERR(fd_merge_all(fd, &a), 0);
	CHECK_ERR(fd_merge_all(fd, &b), HELD_PAGES);
	CHECK_COUNTERS(p, HELD_PAGES, HELD_PAGES, 0, 2);
	ksft_print_msg("holding partition %s: %d pages merged\n", p, HELD_PAGES);
	CHECK(!sigwait(&set, &sig), "sigwait");
	CHECK_COUNTERS(p, HELD_PAGES, HELD_PAGES, 0, 2);
	CHECK(frames_shared(&a, &b, 0, HELD_PAGES, true), "still merged");
	CHECK(!target_do(&a, OP_CHECK, 7, 4007), "content");
	ok = true;
out:
	target_stop(&a);
	target_stop(&b);
	if (fd >= 0)
		close(fd);
	sys_ksm_unlink(p);
	return ok;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	bool (*fn)(void);
} tests[] = {
	{ "add and remove a partition", test_add_remove },
	{ "identical pages of one process merge in one call", test_merge_one_process },
	{ "only present pages of a range are scanned", test_sparse_range },
	{ "duplicates merged in two separate calls share", test_merge_two_calls },
	{ "two partitions never share a frame", test_partitions_isolated },
	{ "a write after merge copies", test_write_copies },
	{ "range unmerge unshares that range only", test_range_unmerge },
	{ "bound process: EBUSY for another partition", test_bound_other_partition },
	{ "bound process: EBUSY for MADV_MERGEABLE and PR_SET_MEMORY_MERGE",
	  test_bound_refuses_global },
	{ "/proc/PID/ksm_stat names the partition", test_ksm_stat_names_partition },
	{ "MADV_MERGEABLE or PR_SET_MEMORY_MERGE process: EBUSY for a partition",
	  test_global_refuses_partition },
	{ "removing a partition unmerges its pages only", test_remove_only_own },
	{ "process exit returns the counters to zero", test_exit_cleanup },
	{ "a forked child joins the partition", test_fork_inherits },
	{ "pages shared by fork never cross partitions", test_fork_shared_isolated },
	{ "a THP-backed range merges", test_thp_merge },
	{ "a THP is split only where a duplicate is found", test_thp_partial },
	{ "munmap and mremap leave stale entries that unmerge repairs",
	  test_munmap_mremap },
	{ "exec leaves the partition", test_exec_unbinds },
	{ "a killed merge keeps its progress with exact counters", test_killed_merge },
	{ "two partitions merge concurrently", test_concurrent_partitions },
	{ "more sharers than max_page_sharing form chains", test_chains },
	{ "bad input to control files", test_bad_control_input },
	{ "bad input to merge", test_bad_merge_input },
	{ "bad input to unmerge", test_bad_unmerge_input },
	{ "file modes of a partition", test_file_modes },
	{ "EPERM without CAP_SYS_ADMIN", test_permissions },
	{ "ksm_open: create, open, KSM_EXCL, ENOENT, EEXIST", test_sys_open },
	{ "ksm_merge: pages merged, isolation and copy on write", test_sys_merge },
	{ "ksm_unlink while open; the last close unmerges", test_sys_unlink_open },
	{ "a killed last holder: the partition is still unmerged",
	  test_sys_killed_holder },
	{ "syscalls: bad arguments", test_sys_bad_input },
	{ "ksm_open: mode bits, umask, owner and group", test_sys_modes },
	{ "an unprivileged user: own processes only", test_sys_unprivileged },
	{ "data integrity: writers against repeated merges", test_stress_integrity },
	{ "fork and swap: a page another process holds in swap never becomes the partition's",
	  test_fork_swap_isolated },
	{ "ksmd never merges a page that a bound process shares by fork",
	  test_ksmd_fork_isolated },
	{ "reclaim: pages swapped out and back never cross partitions",
	  test_reclaim_isolated },
	{ "migration: compaction and memory offlining keep partitions apart",
	  test_migration_isolated },
	{ "a THP shared by fork is refused without being split",
	  test_thp_fork_shared_unsplit },
	{ "syscall numbers 472 to 475, after mainline's newest", test_syscall_numbers },
	{ "names: plain ones need CAP_SYS_ADMIN, users make <uid>.<name> up to a limit",
	  test_name_space },
	{ "ptrace rights decide, as ptrace_scope 0, 1 and 2 say, for sysfs and syscalls",
	  test_ptrace_scope },
	{ "max_page_sharing stays tunable while partitions exist",
	  test_max_page_sharing_tunable },
	{ "tiny merges in a loop do not drain every CPU's LRU each time",
	  test_lru_drain_bounded },
	{ "removal without memory to unmerge: a worker finishes it later",
	  test_teardown_retry },
	{ "a merge again forgets pages gone by MADV_DONTNEED or swap", test_remerge_exact },
	{ "a forked child's mappings are counted, also after the parent exits",
	  test_children_counted },
	{ "churn: stable nodes of pages that are gone are freed", test_churn_bounded },
	{ "an unmerge goes on through non-fatal signals", test_unmerge_signal },
	{ "binding unshares the ksmd pages a process maps through fork",
	  test_bind_unshares_ksmd },
};

int main(int argc, char **argv)
{
	size_t i, n = sizeof(tests) / sizeof(tests[0]);
	long yama;

	if (argc > 1 && !strcmp(argv[1], "--idle")) {
		/* OP_EXEC: a fresh image that just waits to be killed */
		for (;;)
			pause();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (argc > 1 && !strcmp(argv[1], "--hold")) {
		ksft_set_plan(1);
		ksft_test_result(hold_partition(),
				 "a partition held across upstream's KSM tests stays merged\n");
		ksft_finished();
	}
	ksft_set_plan(n);
	require_partitions();
	/* Classic ptrace rules unless a test says otherwise (Yama's default is 1) */
	yama = read_counter(YAMA_SCOPE);
	if (yama > 0)
		sysfs_write(YAMA_SCOPE, "0");
	for (i = 0; i < n; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1])) {
			ksft_test_result_skip("%s (not selected)\n", tests[i].name);
			continue;
		}
		ksft_test_result(tests[i].fn(), "%s\n", tests[i].name);
	}
	if (yama > 0)
		sysfs_write(YAMA_SCOPE, "%ld", yama);
	ksft_finished();
}
