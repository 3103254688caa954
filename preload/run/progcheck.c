/* SPDX-License-Identifier: ISC */
/*
 * Checks of a program's file before cpconnect-run runs it (progcheck.h).
 *
 * The loader reads PT_INTERP to know it is needed: without one the kernel
 * starts the program directly and LD_PRELOAD means nothing.  Our own
 * executable says which ELF class, byte order and machine the preload is
 * built for.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progcheck.h"

#define MAX_INTERP_DEPTH 4
#define SHEBANG_MAX 256 /* the kernel reads no more of a #! line */
#define PHDRS_MAX (64 * 1024)

static int
read_at(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);

	if (r == -1)
		return -1;
	if ((size_t)r != n) {
		errno = ENOEXEC;
		return -1;
	}
	return 0;
}

/* The identity of the ELF files the preload can be loaded into. */
static int
own_ident(unsigned char ident[EI_NIDENT], unsigned *machine)
{
	ElfW(Ehdr) eh;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), rv;

	if (fd == -1)
		return -1;
	rv = read_at(fd, &eh, sizeof(eh), 0);
	close(fd);
	if (rv == -1)
		return -1;
	memcpy(ident, eh.e_ident, EI_NIDENT);
	*machine = eh.e_machine;
	return 0;
}

static int
has_interp(int fd, const ElfW(Ehdr) * eh, int *yes)
{
	ElfW(Phdr) ph;
	size_t i;

	*yes = 0;
	if (eh->e_phentsize != sizeof(ph) ||
	    (size_t)eh->e_phnum * sizeof(ph) > PHDRS_MAX) {
		errno = ENOEXEC;
		return -1;
	}
	for (i = 0; i < eh->e_phnum; i++) {
		if (read_at(fd, &ph, sizeof(ph),
		        (off_t)(eh->e_phoff + i * sizeof(ph))) == -1)
			return -1;
		if (ph.p_type == PT_INTERP) {
			*yes = 1;
			break;
		}
	}
	return 0;
}

static int
check_elf(int fd, char *why, size_t whysz)
{
	unsigned char own[EI_NIDENT];
	unsigned machine;
	ElfW(Ehdr) eh;
	int interp;

	if (read_at(fd, &eh, sizeof(eh), 0) == -1 ||
	    own_ident(own, &machine) == -1)
		return PC_ERROR;
	if (eh.e_ident[EI_CLASS] != own[EI_CLASS] ||
	    eh.e_ident[EI_DATA] != own[EI_DATA] || eh.e_machine != machine) {
		snprintf(why, whysz,
		    "is built for another architecture "
		    "(ELF class %u, machine %u; the preload: class %u, "
		    "machine %u)",
		    eh.e_ident[EI_CLASS], eh.e_machine, own[EI_CLASS], machine);
		return PC_FOREIGN;
	}
	/* Relocatable objects, core files: exec refuses them itself. */
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return PC_OK;
	if (has_interp(fd, &eh, &interp) == -1)
		return PC_ERROR;
	if (!interp) {
		snprintf(why, whysz, "is statically linked");
		return PC_STATIC;
	}
	return PC_OK;
}

/* The interpreter of a #! line, or "" when the line has none. */
static void
shebang(const char *line, size_t n, char *interp, size_t sz)
{
	size_t i = 2, j;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	for (j = i; j < n && line[j] != ' ' && line[j] != '\t' &&
	            line[j] != '\n' && line[j] != '\0';
	     j++)
		;
	snprintf(interp, sz, "%.*s", (int)(j - i), line + i);
}

int
pc_check(
    const char *path, char *culprit, size_t culpritsz, char *why, size_t whysz)
{
	char cur[SHEBANG_MAX + 1], head[SHEBANG_MAX];
	ssize_t n;
	int depth, fd, v;

	snprintf(cur, sizeof(cur), "%s", path);
	for (depth = 0; depth <= MAX_INTERP_DEPTH; depth++) {
		snprintf(culprit, culpritsz, "%s", cur);
		if ((fd = open(cur, O_RDONLY | O_CLOEXEC)) == -1) {
			snprintf(why, whysz, "%s", strerror(errno));
			return PC_ERROR;
		}
		if ((n = pread(fd, head, sizeof(head), 0)) == -1) {
			snprintf(why, whysz, "%s", strerror(errno));
			close(fd);
			return PC_ERROR;
		}
		if (n >= 4 && memcmp(head, ELFMAG, SELFMAG) == 0) {
			v = check_elf(fd, why, whysz);
			if (v == PC_ERROR)
				snprintf(why, whysz, "%s", strerror(errno));
			close(fd);
			return v;
		}
		close(fd);
		if (n < 2 || head[0] != '#' || head[1] != '!')
			return PC_OK; /* exec (or a shell) decides */
		shebang(head, (size_t)n, cur, sizeof(cur));
		if (cur[0] == '\0')
			return PC_OK;
	}
	snprintf(why, whysz, "has #! interpreters nested too deep");
	return PC_ERROR;
}

int
pc_privileged(const char *path, char *why, size_t whysz)
{
	struct statvfs fs;
	struct stat st;

	if (stat(path, &st) == -1)
		return 0;
	/* Set-ID bits that change nothing do not make exec secure. */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ||
	    (statvfs(path, &fs) == 0 && (fs.f_flag & ST_NOSUID)))
		return 0;
	if ((st.st_mode & S_ISUID) && st.st_uid != getuid()) {
		snprintf(why, whysz, "is set-user-ID");
		return 1;
	}
	if ((st.st_mode & S_ISGID) && st.st_gid != getgid()) {
		snprintf(why, whysz, "is set-group-ID");
		return 1;
	}
	if (getxattr(path, "security.capability", NULL, 0) > 0) {
		snprintf(why, whysz, "has file capabilities");
		return 1;
	}
	return 0;
}
