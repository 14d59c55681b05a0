/* The lazy library stubs (src/util/lazy.h): this program links libcurl only through the generated
 * stubs (tests/unit/meson.build), so every call below goes through them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lazy.h"

extern struct berth_lazy berth_lazy_curl;

static size_t collect(char *p, size_t size, size_t n, void *user)
{
	char *dst = user;
	size_t have = strlen(dst), len = size * n;
	if (have + len >= 256)
		return 0;
	memcpy(dst + have, p, len);
	dst[have + len] = '\0';
	return len;
}

/* Loaded only on first use, then each slot points into the real library. */
static void test_loads_on_first_call(void **state)
{
	assert_null(berth_lazy_curl.handle);
	assert_null(dlopen("libcurl.so.4", RTLD_NOLOAD | RTLD_LAZY));
	curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	assert_non_null(v);
	assert_non_null(berth_lazy_curl.handle);
	void *h = dlopen("libcurl.so.4", RTLD_NOLOAD | RTLD_LAZY);
	assert_non_null(h);
	size_t i;
	for (i = 0; i < berth_lazy_curl.count; i++)
		if (strcmp(berth_lazy_curl.names[i], "curl_version_info") == 0)
			break;
	assert_true(i < berth_lazy_curl.count);
	assert_ptr_equal(berth_lazy_curl.slots[i], dlsym(h, "curl_version_info"));
	dlclose(h);
}

/* A variadic function (curl_easy_setopt with pointer, long and function arguments) and a whole
 * transfer of a local file:// URL go through the stubs unharmed. */
static void test_variadic_calls(void **state)
{
	char path[] = "/tmp/berth-test-lazy.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "lazy stubs\n", 11), 11);
	close(fd);
	char url[64], got[256] = "";
	snprintf(url, sizeof(url), "file://%s", path);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L), CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEDATA, got), CURLE_OK);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_off_t size = -1;
	assert_int_equal(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &size), CURLE_OK);
	assert_int_equal(size, 11);
	curl_easy_cleanup(c);
	unlink(path);
	assert_string_equal(got, "lazy stubs\n");
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
}

/* A library that cannot be loaded ends the process with 125 and one line naming it. */
static void test_missing_library(void **state)
{
	static void *slots[1];
	static const char *const names[] = {"nothing_here"};
	struct berth_lazy bogus = {"libberth-does-not-exist.so.9", slots, names, 1, NULL};
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		berth_lazy_resolve(&bogus, 0);
		_exit(0);
	}
	close(p[1]);
	char msg[512] = "";
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	assert_true(n > 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 125);
	assert_non_null(strstr(msg, "berth: cannot load libberth-does-not-exist.so.9: "));
	assert_non_null(strchr(msg, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_on_first_call),
		cmocka_unit_test(test_variadic_calls),
		cmocka_unit_test(test_missing_library),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
