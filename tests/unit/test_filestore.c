/*
 * test_filestore - where uploaded bytes live: paths, new files reaching
 * the disk (their folders synced), and bytes that went missing.
 *
 * Linked with -Wl,--wrap=fsync: every fsync of a folder is recorded, so
 * the test sees which folders were synced, not only that the calls ran.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/err.h"
#include "../../lib/filestore.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int __real_fsync(int fd);
int __wrap_fsync(int fd);

static ino_t synced_dirs[16];
static int nsynced;

int __wrap_fsync(int fd)
{
	struct stat st;

	if (!fstat(fd, &st) && S_ISDIR(st.st_mode) && nsynced < 16)
		synced_dirs[nsynced++] = st.st_ino;
	return __real_fsync(fd);
}

static bool was_synced(const char *dir)
{
	struct stat st;

	assert_int_equal(stat(dir, &st), 0);
	for (int i = 0; i < nsynced; i++)
		if (synced_dirs[i] == st.st_ino)
			return true;
	return false;
}

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/c4a-filestore-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static void test_paths(void **state)
{
	char p[256];
	(void)state;

	assert_int_equal(filestore_path("/d", "01a2b3c4-0000-7000-8000-00000000ab12", p, sizeof(p)), 0);
	assert_string_equal(p, "/d/ab/12/01a2b3c4-0000-7000-8000-00000000ab12");
	/* one spelling: the upper-case one would be a second file */
	assert_int_equal(filestore_path("/d", "01A2B3C4-0000-7000-8000-00000000AB12", p, sizeof(p)),
			 ERR_VALIDATION);
	assert_int_equal(filestore_path("/d", "../../etc/passwd", p, sizeof(p)), ERR_VALIDATION);
}

/* A new file's name and every folder made for it are synced: after a
 * crash, bytes recorded as written are still reachable. */
static void test_new_file_reaches_the_disk(void **state)
{
	const char *id = "01a2b3c4-0000-7000-8000-0000000012ef";
	char store[128], aa[160], bb[160];
	(void)state;

	snprintf(store, sizeof(store), "%s/files", root);
	snprintf(aa, sizeof(aa), "%s/12", store);
	snprintf(bb, sizeof(bb), "%s/12/ef", store);
	nsynced = 0;
	int fd = filestore_open(store, id, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_true(was_synced(bb));	/* holds the file's name */
	assert_true(was_synced(aa));	/* holds the new folder bb */
	assert_true(was_synced(store));	/* holds the new folder aa */
	/* opening it again makes nothing new: nothing to sync */
	nsynced = 0;
	fd = filestore_open(store, id, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(nsynced, 0);
}

/* A file shorter than its recorded offset lost bytes: ERR_GONE, never a
 * gap of zeros written in their place. */
static void test_missing_bytes_are_not_zeros(void **state)
{
	const char *id = "01a2b3c4-0000-7000-8000-000000003456";
	char store[128], path[256];
	struct stat st;
	(void)state;

	snprintf(store, sizeof(store), "%s/files", root);
	int fd = filestore_open(store, id, 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "12345", 5), 5);
	close(fd);
	/* resuming at 5 works; at 8 the bytes 5..7 were never there */
	assert_true((fd = filestore_open(store, id, 5)) >= 0);
	close(fd);
	assert_int_equal(filestore_open(store, id, 8), ERR_GONE);
	assert_int_equal(filestore_path(store, id, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
	/* bytes past the offset (never recorded) are cut off */
	assert_true((fd = filestore_open(store, id, 3)) >= 0);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_new_file_reaches_the_disk),
		cmocka_unit_test(test_missing_bytes_are_not_zeros),
	};
	return cmocka_run_group_tests_name("filestore", tests, setup, teardown);
}
