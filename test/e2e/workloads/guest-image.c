// SPDX-License-Identifier: Apache-2.0
/*
 * A stand-in for a virtual machine: loads the same "guest image" (real
 * files, such as a kernel and an initrd) into anonymous memory, the way a
 * VM's RAM holds the guest kernel it booted, plus pages of its own that no
 * other process has. Then it waits to be merged.
 *
 *   guest-image UNIQUE_MIB FILE...
 *
 * Prints one line, "ready PID START END", with the anonymous range in hex,
 * then sleeps until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define PAGE 4096UL

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static size_t load(const char *path, char *dst, size_t room)
{
	size_t done = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "guest-image: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (done < room) {
		ssize_t n = read(fd, dst + done, room - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "guest-image: %s: %s\n", path, strerror(errno));
			exit(1);
		}
		if (n == 0)
			break;
		done += n;
	}
	close(fd);
	return done;
}

int main(int argc, char **argv)
{
	size_t unique, image = 0, total, off = 0, i;
	char *mem;

	if (argc < 3) {
		fprintf(stderr, "usage: guest-image UNIQUE_MIB FILE...\n");
		return 2;
	}
	unique = strtoul(argv[1], NULL, 10) << 20;
	for (i = 2; i < (size_t)argc; i++) {
		off_t size;
		int fd = open(argv[i], O_RDONLY);

		if (fd < 0) {
			fprintf(stderr, "guest-image: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		size = lseek(fd, 0, SEEK_END);
		close(fd);
		image += ((size_t)size + PAGE - 1) & ~(PAGE - 1);
	}
	total = image + unique;
	mem = mmap(NULL, total, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("guest-image: mmap");
		return 1;
	}
	/* Each file starts on a page, as a loaded image would. */
	for (i = 2; i < (size_t)argc; i++) {
		size_t n = load(argv[i], mem + off, image - off);

		off += (n + PAGE - 1) & ~(PAGE - 1);
	}
	/* Random bytes: pages no other process can have. */
	for (off = image; off < total; ) {
		ssize_t n = getrandom(mem + off, total - off, 0);

		if (n > 0)
			off += n;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready %d %lx %lx\n", getpid(), (unsigned long)mem,
	       (unsigned long)(mem + total));
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
