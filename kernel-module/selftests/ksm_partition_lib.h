/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the Selective KSM selftests, ksm_partition_tests.c and
 * ksm_partition_stress.c: page contents, the partition files in sysfs, the
 * ksm_* syscalls, /proc/PID/pagemap and ksm_stat, and the assertions.
 */
#ifndef __KSM_PARTITION_LIB_H
#define __KSM_PARTITION_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/ksm.h>

#include "kselftest.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

#define PAGE		4096UL
#define THP_SIZE	(2UL << 20)
#define CONTROL		KSM_SYSFS_DIR "/control"
#define PARTITIONS	KSM_SYSFS_DIR "/partition"
#define MAX_ERRNO	4095	/* the largest errno a syscall returns */

/* Fill a page with the pattern of value @v */
void fill_page(void *p, uint64_t v);
/* Whether a page holds the pattern of value @v */
bool page_holds(const void *p, uint64_t v);

/* Write @len bytes to @path in one write(): 0, -errno, or -EIO if short */
int write_raw(const char *path, const void *buf, size_t len);
/* write_raw() of a formatted string (at most 511 bytes) */
int sysfs_write(const char *path, const char *fmt, ...) __printf(2, 3);
/* sysfs_write() of a formatted string to file @dir/@name/@file */
int dir_file_write(const char *dir, const char *name, const char *file,
		   const char *fmt, ...) __printf(4, 5);
/* A counter file's value: -1 if it cannot be read or is not "<n>\n" */
long read_counter(const char *path);

/* Write @name to control/add_partition: 0 or -errno */
int part_add(const char *name);
/* Write @name to control/remove_partition: 0 or -errno */
int part_remove(const char *name);
/* Whether partition @name has its directory in sysfs */
bool part_exists(const char *name);
/*
 * Write "<pid> 0x<start> 0x<end>\n" to file @file ("merge" or "unmerge")
 * of partition @name: 0 or -errno
 */
int part_range(const char *name, const char *file, pid_t pid,
	       unsigned long start, unsigned long end);
/* Counter @file of partition @name, as read_counter() */
long counter(const char *name, const char *file);

struct counters {
	long shared, sharing, unshared, scanned, procs;
};

/* All the counters of partition @name, each -1 if unreadable */
struct counters counters_of(const char *name);
/* Whether the counters of partition @name are these; else prints them */
bool counters_are(const char *name, long shared, long sharing,
		  long unshared, long procs);

/*
 * The partition named on the "ksm_partition" line of /proc/@pid/ksm_stat
 * ("-" if none) into @name: false if there is no such line
 */
bool ksm_stat_partition(pid_t pid, char *name, size_t size);

/*
 * The PFNs of @n pages from @addr of process @pid, 0 for pages not
 * present, in one read of its pagemap: false if that read fails
 */
bool pfns_of(pid_t pid, unsigned long addr, size_t n, uint64_t *pfns);

/* How many of @n pages from @addr of process @pid are in swap: -1 on error */
long pages_swapped(pid_t pid, unsigned long addr, size_t n);

/*
 * cgroup v2 groups under /sys/fs/cgroup, with the memory controller:
 * cg_create() makes group @name (enabling +memory for it), cg_write(name,
 * file, fmt, ...) writes one of its files, cg_enter() moves @pid into it, cg_read() reads a number
 * from one of its files (-1 on error), cg_destroy() moves its processes back
 * to the root group and removes it. 0 or -errno where they return int.
 */
int cg_create(const char *name);
#define CGROOT	"/sys/fs/cgroup"
#define cg_write(name, file, ...) dir_file_write(CGROOT, name, file, __VA_ARGS__)
int cg_enter(const char *name, pid_t pid);
long cg_read(const char *name, const char *file);
void cg_destroy(const char *name);
/*
 * Reclaim the memory of group @name (memory.reclaim) until @n pages from
 * @addrs[i] of process @pids[i] are in swap, for each of the @nprocs, at
 * most @tries rounds, 50 ms apart (reclaim may pass over pages just used for
 * a while): whether they all are
 */
bool cg_swap_out(const char *name, const pid_t *pids,
		 const unsigned long *addrs, int nprocs, size_t n, int tries);

/*
 * The ksm_* syscalls and pidfd_open(): the syscall's result, or -errno if
 * it failed (a result below -MAX_ERRNO, which is no errno, as it is)
 */
long sys_ksm_open(const char *name, unsigned int flags, mode_t mode);
long sys_ksm_unlink(const char *name);
long sys_ksm_merge(int fd, int pidfd, unsigned long addr, unsigned long len,
		   unsigned int flags);
long sys_ksm_unmerge(int fd, int pidfd, unsigned long addr,
		     unsigned long len, unsigned int flags);
int sys_pidfd_open(pid_t pid);

/*
 * Exit, failing, unless run as root on a kernel with KSM partitions. (Inline:
 * the exit reports the caller's plan and counts.)
 */
static inline void require_partitions(void)
{
	if (geteuid())
		ksft_exit_fail_msg("must run as root (pagemap PFNs, sysfs)\n");
	if (access(CONTROL "/add_partition", W_OK))
		ksft_exit_fail_msg("no %s: kernel without CONFIG_SELECTIVE_KSM?\n",
				   CONTROL);
}

/* The name of errno @e: "ok" for 0, "E?" if unknown */
const char *errname(int e);
/* qsort() comparison of two uint64_t */
int cmp_u64(const void *a, const void *b);

/*
 * Assertions for test functions returning bool: on failure they print the
 * condition and a message and jump to the function's "out" label.
 */
#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		ksft_print_msg("%s:%d: %s: ", __func__, __LINE__, #cond); \
		printf(__VA_ARGS__);					\
		printf("\n");						\
		goto out;						\
	}								\
} while (0)

/* @expr (0, a count, or -errno) must be @want */
#define CHECK_ERR(expr, want) do {					\
	int __e = (expr);						\
	CHECK(__e == (want), "%s returned %d (%s), expected %d (%s)",	\
	      #expr, __e, errname(-__e), (want), errname(-(want)));	\
} while (0)

/* The counters of partition @name must be exactly these */
#define CHECK_COUNTERS(name, s, g, u, p) \
	CHECK(counters_are(name, s, g, u, p), "counters of %s", name)

#endif /* __KSM_PARTITION_LIB_H */
