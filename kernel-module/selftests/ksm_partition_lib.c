// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the Selective KSM selftests: see ksm_partition_lib.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest.h"
#include "ksm_partition_lib.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)
#define PM_PFN_MASK	((1ULL << 55) - 1)

/* ------------------------------------------------------------------ */
/* Page contents                                                        */

void fill_page(void *p, uint64_t v)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		w[i] = v * 1000003ULL + i + 1;
}

bool page_holds(const void *p, uint64_t v)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i] != v * 1000003ULL + i + 1)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* sysfs                                                                */

int write_raw(const char *path, const void *buf, size_t len)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

int sysfs_write(const char *path, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return write_raw(path, buf, strlen(buf));
}

int dir_file_write(const char *dir, const char *name, const char *file,
		   const char *fmt, ...)
{
	char path[256], buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	return sysfs_write(path, "%s", buf);
}

long read_counter(const char *path)
{
	char buf[64] = "", *end;
	unsigned long v;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || end == buf || *end != '\n' || v > LONG_MAX)
		return -1;
	return v;
}

int part_add(const char *name)
{
	return sysfs_write(CONTROL "/add_partition", "%s\n", name);
}

int part_remove(const char *name)
{
	return sysfs_write(CONTROL "/remove_partition", "%s", name);
}

bool part_exists(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), PARTITIONS "/%s", name);
	return stat(path, &st) == 0;
}

int part_range(const char *name, const char *file, pid_t pid,
	       unsigned long start, unsigned long end)
{
	char path[256];

	snprintf(path, sizeof(path), PARTITIONS "/%s/%s", name, file);
	return sysfs_write(path, "%d 0x%lx 0x%lx\n", pid, start, end);
}

long counter(const char *name, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), PARTITIONS "/%s/%s", name, file);
	return read_counter(path);
}

struct counters counters_of(const char *name)
{
	struct counters c = {
		counter(name, "pages_shared"), counter(name, "pages_sharing"),
		counter(name, "pages_unshared"), counter(name, "pages_scanned"),
		counter(name, "merged_processes"),
	};

	return c;
}

bool counters_are(const char *name, long shared, long sharing,
		  long unshared, long procs)
{
	struct counters c = counters_of(name);

	if (c.shared == shared && c.sharing == sharing &&
	    c.unshared == unshared && c.procs == procs)
		return true;
	ksft_print_msg("%s: shared %ld sharing %ld unshared %ld procs %ld, expected %ld %ld %ld %ld\n",
		       name, c.shared, c.sharing, c.unshared, c.procs, shared,
		       sharing, unshared, procs);
	return false;
}

/* ------------------------------------------------------------------ */
/* /proc                                                                */

bool ksm_stat_partition(pid_t pid, char *name, size_t size)
{
	char path[64], line[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "ksm_partition ", 14))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(name, size, "%s", line + 14);
		found = true;
	}
	fclose(f);
	return found;
}

bool pfns_of(pid_t pid, unsigned long addr, size_t n, uint64_t *pfns)
{
	char path[64];
	ssize_t len = n * sizeof(*pfns);
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	if (pread(fd, pfns, len, (addr / PAGE) * sizeof(*pfns)) != len) {
		close(fd);
		return false;
	}
	close(fd);
	for (i = 0; i < n; i++)
		pfns[i] = pfns[i] & PM_PRESENT ? pfns[i] & PM_PFN_MASK : 0;
	return true;
}

long pages_swapped(pid_t pid, unsigned long addr, size_t n)
{
	uint64_t e[512];
	char path[64];
	long swapped = 0;
	size_t i, done;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	for (done = 0; done < n; done += i) {
		size_t chunk = n - done < 512 ? n - done : 512;
		ssize_t len = chunk * sizeof(e[0]);

		if (pread(fd, e, len, (addr / PAGE + done) * sizeof(e[0])) != len) {
			close(fd);
			return -1;
		}
		for (i = 0; i < chunk; i++)
			swapped += !!(e[i] & PM_SWAP);
	}
	close(fd);
	return swapped;
}

/* ------------------------------------------------------------------ */
/* cgroups                                                              */

int cg_create(const char *name)
{
	char path[256];
	int err;

	err = sysfs_write(CGROOT "/cgroup.subtree_control", "+memory");
	if (err)
		return err;
	snprintf(path, sizeof(path), CGROOT "/%s", name);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int cg_enter(const char *name, pid_t pid)
{
	return cg_write(name, "cgroup.procs", "%d", pid);
}

long cg_read(const char *name, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), CGROOT "/%s/%s", name, file);
	return read_counter(path);
}

void cg_destroy(const char *name)
{
	char path[256], line[32];
	FILE *f;

	snprintf(path, sizeof(path), CGROOT "/%s/cgroup.procs", name);
	for (int round = 0; round < 100; round++) {
		bool any = false;

		f = fopen(path, "r");
		if (!f)
			return;
		while (fgets(line, sizeof(line), f)) {
			any = true;
			sysfs_write(CGROOT "/cgroup.procs", "%d", atoi(line));
		}
		fclose(f);
		snprintf(path, sizeof(path), CGROOT "/%s", name);
		if (!any && !rmdir(path))
			return;
		snprintf(path, sizeof(path), CGROOT "/%s/cgroup.procs", name);
		usleep(10000);
	}
}

bool cg_swap_out(const char *name, const pid_t *pids,
		 const unsigned long *addrs, int nprocs, size_t n, int tries)
{
	for (int round = 0; round < tries; round++) {
		bool all = true;

		for (int i = 0; i < nprocs; i++)
			if (pages_swapped(pids[i], addrs[i], n) != (long)n)
				all = false;
		if (all)
			return true;
		/*
		 * Fails with EAGAIN when it reclaims less than asked: fine.
		 * Pages just used are referenced: a round or two ages them.
		 */
		cg_write(name, "memory.reclaim", "%zu", 16 * n * PAGE * nprocs);
		usleep(50000);
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Syscalls                                                             */

/*
 * syscall() returns -1 with errno set for a result in [-MAX_ERRNO, -1],
 * any other result as it is
 */
static long sys_result(long ret)
{
	return ret == -1 ? -errno : ret;
}

long sys_ksm_open(const char *name, unsigned int flags, mode_t mode)
{
	return sys_result(syscall(__NR_ksm_open, name, flags, mode));
}

long sys_ksm_unlink(const char *name)
{
	return sys_result(syscall(__NR_ksm_unlink, name));
}

long sys_ksm_merge(int fd, int pidfd, unsigned long addr, unsigned long len,
		   unsigned int flags)
{
	return sys_result(syscall(__NR_ksm_merge, fd, pidfd, addr, len,
				  flags));
}

long sys_ksm_unmerge(int fd, int pidfd, unsigned long addr,
		     unsigned long len, unsigned int flags)
{
	return sys_result(syscall(__NR_ksm_unmerge, fd, pidfd, addr, len,
				  flags));
}

int sys_pidfd_open(pid_t pid)
{
	return sys_result(syscall(__NR_pidfd_open, pid, 0));
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

const char *errname(int e)
{
	const char *s = e ? strerrorname_np(e) : "ok";

	return s ? s : "E?";
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}
