#include "filestore.h"

#include "err.h"
#include "validate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

int filestore_path(const char *dir, const char *id, char *out, size_t len)
{
	size_t n = strlen(id);

	/* only the lower-case spelling: one id, one path */
	if (n != 36 || !validate_uuid(id) || strpbrk(id, "ABCDEF"))
		return ERR_VALIDATION;
	if ((size_t)snprintf(out, len, "%s/%.2s/%.2s/%s", dir, id + 32, id + 34, id) >= len)
		return ERR_INTERNAL;
	return 0;
}

/* fsync of the folder that holds @path: a new name in it survives a
 * crash only once the folder itself is on disk. */
static int sync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return -1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if ((fd = open(slash == path ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* mkdir -p of @path's parent folders; each one made is synced into its
 * own parent */
static int make_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		int rc = mkdir(path, 0750);
		if (!rc)
			rc = sync_parent(path);
		*p = '/';
		if (rc && errno != EEXIST)
			return -1;
	}
	return 0;
}

int filestore_open(const char *dir, const char *id, long long offset)
{
	char path[4096];
	struct stat st;
	int fd, rc;

	if ((rc = filestore_path(dir, id, path, sizeof(path))))
		return rc;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		/* a new file: its folders and its name must reach the disk
		 * before any offset that counts on them is recorded */
		if (errno != ENOENT || make_parents(path) ||
		    (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640)) < 0 ||
		    sync_parent(path)) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return e == ENOSPC || e == EDQUOT ? ERR_STORAGE : ERR_INTERNAL;
		}
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return errno == EWOULDBLOCK ? ERR_CONFLICT : ERR_INTERNAL;
	}
	if (fstat(fd, &st)) {
		close(fd);
		return ERR_INTERNAL;
	}
	/* shorter than the bytes recorded as written: they are lost, and
	 * zeros in their place would be a corrupt file reported complete */
	if (st.st_size < offset) {
		close(fd);
		return ERR_GONE;
	}
	if ((st.st_size != offset && ftruncate(fd, offset)) || lseek(fd, offset, SEEK_SET) != offset) {
		close(fd);
		return ERR_INTERNAL;
	}
	return fd;
}

void filestore_safe_name(const char *in, char *out, size_t len)
{
	const char *base = in;
	size_t n = 0;

	for (const char *p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	const unsigned char *p = (const unsigned char *)base;
	for (; *p && n + 1 < len; p++)
		if (*p >= 0x20 && *p != 0x7f)
			out[n++] = (char)*p;
	/* out of room inside a character: a long name ends before it */
	if ((*p & 0xC0) == 0x80)
		while (n > 0 && ((unsigned char)out[--n] & 0xC0) == 0x80)
			;
	out[n] = '\0';
	if (!strcmp(out, ".") || !strcmp(out, "..") || !*out)
		snprintf(out, len, "file");
}

bool filestore_mime_ok(const char *s)
{
	const char *tok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-";
	size_t a = strspn(s, tok);

	return a && s[a] == '/' && strspn(s + a + 1, tok) && !s[a + 1 + strspn(s + a + 1, tok)];
}

int filestore_remove(const char *dir, const char *id)
{
	char path[4096];
	int rc;

	if ((rc = filestore_path(dir, id, path, sizeof(path))))
		return rc;
	return unlink(path) && errno != ENOENT ? ERR_INTERNAL : 0;
}

int filestore_sha256(const char *path, char out[65])
{
	unsigned char *buf = malloc(1 << 20), md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = ERR_INTERNAL;
	ssize_t n;

	if (fd < 0 || !ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while ((n = read(fd, buf, 1 << 20)) > 0)
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			goto out;
	if (n < 0 || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

long long filestore_free(const char *dir)
{
	struct statvfs v;

	if (statvfs(dir, &v))
		return -1;
	return (long long)v.f_bavail * (long long)v.f_frsize;
}

static bool hex2(const char *s)
{
	/* upper case too: folders an older version made for "7E69…" ids hold
	 * orphans the walk must find */
	return strlen(s) == 2 && strspn(s, "0123456789abcdefABCDEF") == 2;
}

int filestore_walk(const char *dir, void (*fn)(const char *path, const char *id, long age, void *arg),
		   void *arg)
{
	DIR *d1 = opendir(dir);
	struct dirent *e1, *e2, *e3;
	char path[4096];
	time_t now = time(NULL);

	if (!d1)
		return errno == ENOENT ? 0 : ERR_INTERNAL;
	while ((e1 = readdir(d1))) {
		if (!hex2(e1->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e1->d_name);
		DIR *d2 = opendir(path);
		while (d2 && (e2 = readdir(d2))) {
			if (!hex2(e2->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", dir, e1->d_name, e2->d_name);
			DIR *d3 = opendir(path);
			while (d3 && (e3 = readdir(d3))) {
				struct stat st;
				if (!validate_uuid(e3->d_name))
					continue;
				snprintf(path, sizeof(path), "%s/%s/%s/%s", dir, e1->d_name,
					 e2->d_name, e3->d_name);
				if (!stat(path, &st) && S_ISREG(st.st_mode))
					fn(path, e3->d_name, (long)(now - st.st_mtime), arg);
			}
			if (d3)
				closedir(d3);
		}
		if (d2)
			closedir(d2);
	}
	closedir(d1);
	return 0;
}
