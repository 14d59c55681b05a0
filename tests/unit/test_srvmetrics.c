/* The registry server's metrics (srvmetrics.h): counting, and the Prometheus text
 * exposition: sample lines, status classes, the cumulative histogram, the storage counters,
 * and that every line is a well-formed comment or sample of a family announced by one TYPE
 * line before it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "srvmetrics.h"

static char *render(struct regsrv_metrics *m)
{
	struct regsrv_mgauges g = {.uploads = 3, .uploads_active = 1, .connection_limit = 500};
	struct buf out = BUF_INIT;
	assert_int_equal(regsrv_metrics_render(m, &g, &out), 0);
	return buf_steal(&out);
}

static void assert_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line '%s' in:\n%s", line, text);
}

static void assert_no_line_starting(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; (p = strstr(p, prefix)); p += n)
		if (p == text || p[-1] == '\n')
			fail_msg("unexpected line starting '%s'", prefix);
}

static void test_counts(void **state)
{
	(void)state;
	struct regsrv_metrics *m = calloc(1, sizeof(*m));
	regsrv_metrics_init(m);
	regsrv_metrics_request(m, REGSRV_MM_GET, REGSRV_MH_BLOB, 200, 0.003, 0, 100);
	regsrv_metrics_request(m, REGSRV_MM_GET, REGSRV_MH_BLOB, 200, 0.002, 0, 50);
	regsrv_metrics_request(m, REGSRV_MM_PUT, REGSRV_MH_BLOB_UPLOAD_CHUNK, 201, 0.7, 1000, 0);
	regsrv_metrics_request(m, REGSRV_MM_GET, REGSRV_MH_BASE, 418, 0.0001, 0, 2);
	regsrv_metrics_request(m, REGSRV_MM_PATCH, REGSRV_MH_BLOB_UPLOAD_CHUNK, 0, 61, 5, 0);
	regsrv_metrics_request(m, (enum regsrv_mmethod)99, (enum regsrv_mhandler)99, 599, 0, 0, 0);
	atomic_store(&m->in_flight, 2);
	char *t = render(m);

	assert_line(t,
		    "registry_http_requests_total{method=\"GET\",handler=\"blob\",code=\"200\"} 2");
	assert_line(t, "registry_http_requests_total{method=\"PUT\",handler=\"blob_upload_chunk\","
		       "code=\"201\"} 1");
	/* A code without its own counter counts as its class; no answer is "0". */
	assert_line(t,
		    "registry_http_requests_total{method=\"GET\",handler=\"base\",code=\"4xx\"} 1");
	assert_line(t,
		    "registry_http_requests_total{method=\"PATCH\",handler=\"blob_upload_chunk\","
		    "code=\"0\"} 1");
	assert_line(
	    t, "registry_http_requests_total{method=\"other\",handler=\"none\",code=\"5xx\"} 1");
	/* Counters never touched are left out. */
	assert_no_line_starting(t, "registry_http_requests_total{method=\"DELETE\"");

	/* The histogram is cumulative, with +Inf, sum and count. */
	assert_line(
	    t, "registry_http_request_duration_seconds_bucket{handler=\"blob\",le=\"0.001\"} 0");
	assert_line(
	    t, "registry_http_request_duration_seconds_bucket{handler=\"blob\",le=\"0.005\"} 2");
	assert_line(
	    t, "registry_http_request_duration_seconds_bucket{handler=\"blob\",le=\"+Inf\"} 2");
	assert_line(t, "registry_http_request_duration_seconds_count{handler=\"blob\"} 2");
	assert_line(t, "registry_http_request_duration_seconds_sum{handler=\"blob\"} 0.005000");
	assert_line(t,
		    "registry_http_request_duration_seconds_bucket{handler=\"blob_upload_chunk\","
		    "le=\"0.5\"} 0");
	assert_line(t,
		    "registry_http_request_duration_seconds_bucket{handler=\"blob_upload_chunk\","
		    "le=\"2.5\"} 1");
	/* 61 s is past the last bound: only in +Inf. */
	assert_line(t,
		    "registry_http_request_duration_seconds_bucket{handler=\"blob_upload_chunk\","
		    "le=\"60\"} 1");
	assert_line(t,
		    "registry_http_request_duration_seconds_bucket{handler=\"blob_upload_chunk\","
		    "le=\"+Inf\"} 2");
	assert_no_line_starting(t,
				"registry_http_request_duration_seconds_count{handler=\"tags\"}");

	assert_line(t, "registry_http_request_body_bytes_total 1005");
	assert_line(t, "registry_http_response_body_bytes_total 152");
	assert_line(t, "registry_http_in_flight_requests 2");
	assert_line(t, "registry_storage_upload_sessions 3");
	assert_line(t, "registry_storage_upload_sessions_active 1");
	assert_line(t, "registry_http_connection_limit 500");
	free(t);
	free(m);
}

/* Blobs and manifests stored, mounted, served, deleted, untagged: a series per action the
 * object can have, zeros included, bytes where there are some. */
static void test_storage(void **state)
{
	(void)state;
	struct regsrv_metrics *m = calloc(1, sizeof(*m));
	regsrv_metrics_init(m);
	char *t = render(m);
	assert_line(t, "# TYPE registry_storage_blobs_total counter");
	assert_line(t, "registry_storage_blobs_total{action=\"stored\"} 0");
	assert_line(t, "registry_storage_blobs_total{action=\"deleted\"} 0");
	assert_line(t, "registry_storage_blob_bytes_total{action=\"served\"} 0");
	assert_line(t, "registry_storage_manifests_total{action=\"untagged\"} 0");
	/* Actions an object never has get no series. */
	assert_no_line_starting(t, "registry_storage_manifests_total{action=\"mounted\"}");
	assert_no_line_starting(t, "registry_storage_blobs_total{action=\"untagged\"}");
	assert_no_line_starting(t, "registry_storage_blob_bytes_total{action=\"deleted\"}");
	free(t);

	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_STORED, 300000);
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_STORED, 5);
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_MOUNTED, 7);
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_SERVED, 1000);
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_DELETED, 0);
	regsrv_metrics_storage(m, REGSRV_MO_MANIFEST, REGSRV_MA_STORED, 512);
	regsrv_metrics_storage(m, REGSRV_MO_MANIFEST, REGSRV_MA_SERVED, 512);
	regsrv_metrics_storage(m, REGSRV_MO_MANIFEST, REGSRV_MA_SERVED, 512);
	regsrv_metrics_storage(m, REGSRV_MO_MANIFEST, REGSRV_MA_UNTAGGED, 0);
	/* Out of range: ignored. */
	regsrv_metrics_storage(m, (enum regsrv_mobject)9, REGSRV_MA_STORED, 1);
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, (enum regsrv_maction)9, 1);
	/* Past 2^53, where a double would round: exact. */
	regsrv_metrics_storage(m, REGSRV_MO_BLOB, REGSRV_MA_SERVED, (1ull << 53) + 1);
	t = render(m);
	assert_line(t, "registry_storage_blobs_total{action=\"stored\"} 2");
	assert_line(t, "registry_storage_blobs_total{action=\"mounted\"} 1");
	assert_line(t, "registry_storage_blobs_total{action=\"served\"} 2");
	assert_line(t, "registry_storage_blobs_total{action=\"deleted\"} 1");
	assert_line(t, "registry_storage_blob_bytes_total{action=\"stored\"} 300005");
	assert_line(t, "registry_storage_blob_bytes_total{action=\"mounted\"} 7");
	assert_line(t, "registry_storage_blob_bytes_total{action=\"served\"} 9007199254741993");
	assert_line(t, "registry_storage_manifests_total{action=\"stored\"} 1");
	assert_line(t, "registry_storage_manifests_total{action=\"served\"} 2");
	assert_line(t, "registry_storage_manifests_total{action=\"deleted\"} 0");
	assert_line(t, "registry_storage_manifests_total{action=\"untagged\"} 1");
	free(t);
	free(m);
}

static int is_name_char(char c, int first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* Every line: "# HELP name text", "# TYPE name type", or "name[{labels}] value", where the
 * sample's family (name less _bucket/_sum/_count for histograms) was typed before. */
static void test_well_formed(void **state)
{
	(void)state;
	struct regsrv_metrics *m = calloc(1, sizeof(*m));
	regsrv_metrics_init(m);
	regsrv_metrics_request(m, REGSRV_MM_HEAD, REGSRV_MH_MANIFEST, 404, 0.01, 0, 0);
	char *t = render(m);
	char typed[64][80];
	size_t ntyped = 0, samples = 0;
	int saw_process = 0;
	char *save = NULL;
	for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7))
			continue;
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[80], type[32];
			assert_int_equal(sscanf(line + 7, "%79s %31s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
				    !strcmp(type, "histogram"));
			assert_true(ntyped < 64);
			for (size_t k = 0; k < ntyped; k++)
				if (!strcmp(typed[k], name))
					fail_msg("family '%s' typed twice", name);
			snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
			continue;
		}
		assert_true(line[0] != '#');
		size_t i = 0;
		while (line[i] && is_name_char(line[i], i == 0))
			i++;
		assert_true(i > 0);
		char name[80];
		snprintf(name, sizeof(name), "%.*s", (int)i, line);
		if (line[i] == '{') {
			char *close = strchr(line + i, '}');
			assert_non_null(close);
			i = (size_t)(close - line) + 1;
		}
		assert_int_equal(line[i], ' ');
		char *end;
		strtod(line + i + 1, &end);
		assert_true(end != line + i + 1 && *end == '\0');
		int found = 0;
		for (size_t k = 0; k < ntyped && !found; k++) {
			size_t n = strlen(typed[k]);
			found = !strcmp(name, typed[k]) ||
				(!strncmp(name, typed[k], n) &&
				 (!strcmp(name + n, "_bucket") || !strcmp(name + n, "_sum") ||
				  !strcmp(name + n, "_count")));
		}
		if (!found)
			fail_msg("sample '%s' of a family without a TYPE line before it", name);
		if (!strcmp(name, "process_resident_memory_bytes"))
			saw_process = 1;
		samples++;
	}
	assert_true(samples > 20);
	assert_true(saw_process);
	free(t);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_storage),
	    cmocka_unit_test(test_well_formed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
