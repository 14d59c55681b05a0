#include "srvmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"

#include "banned.h"

static const char *const method_names[REGSRV_MM__N] = {
    [REGSRV_MM_OTHER] = "other",   [REGSRV_MM_GET] = "GET",   [REGSRV_MM_HEAD] = "HEAD",
    [REGSRV_MM_PUT] = "PUT",	   [REGSRV_MM_POST] = "POST", [REGSRV_MM_PATCH] = "PATCH",
    [REGSRV_MM_DELETE] = "DELETE",
};

static const char *const handler_names[REGSRV_MH__N] = {
    [REGSRV_MH_NONE] = "none",
    [REGSRV_MH_BASE] = "base",
    [REGSRV_MH_CATALOG] = "catalog",
    [REGSRV_MH_TOKEN] = "token",
    [REGSRV_MH_TAGS] = "tags",
    [REGSRV_MH_MANIFEST] = "manifest",
    [REGSRV_MH_BLOB] = "blob",
    [REGSRV_MH_BLOB_UPLOAD] = "blob_upload",
    [REGSRV_MH_BLOB_UPLOAD_CHUNK] = "blob_upload_chunk",
    [REGSRV_MH_REFERRERS] = "referrers",
    [REGSRV_MH_REJECTED] = "rejected",
};

/* The codes the server gives, each with its own counter; index 0 is "no answer" and the
 * last five are the classes of anything else. */
static const unsigned status_codes[REGSRV_MSTATUS_N - 5] = {
    0, 200, 201, 202, 204, 206, 307, 400, 401, 403, 404, 405, 409, 413, 416, 500, 503, 507, 100,
};
static const char *const status_classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static const double bucket_bounds[REGSRV_MBUCKETS_N] = {0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};

static unsigned status_index(unsigned status)
{
	for (unsigned i = 0; i < ARRAY_SIZE(status_codes); i++)
		if (status_codes[i] == status)
			return i;
	unsigned cls = status / 100;
	if (cls < 1 || cls > 5)
		cls = 5;
	return (unsigned)ARRAY_SIZE(status_codes) + cls - 1;
}

void regsrv_metrics_init(struct regsrv_metrics *m)
{
	memset(m, 0, sizeof(*m));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

#define ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

void regsrv_metrics_request(struct regsrv_metrics *m, enum regsrv_mmethod method,
			    enum regsrv_mhandler handler, unsigned status, double seconds,
			    uint64_t bytes_in, uint64_t bytes_out)
{
	if ((unsigned)method >= REGSRV_MM__N)
		method = REGSRV_MM_OTHER;
	if ((unsigned)handler >= REGSRV_MH__N)
		handler = REGSRV_MH_NONE;
	ADD(m->requests[method][handler][status_index(status)], 1);
	unsigned b = 0;
	while (b < REGSRV_MBUCKETS_N && seconds > bucket_bounds[b])
		b++;
	ADD(m->duration[handler][b], 1);
	ADD(m->duration_us[handler], (uint64_t)(seconds * 1e6));
	if (bytes_in)
		ADD(m->bytes_in, bytes_in);
	if (bytes_out)
		ADD(m->bytes_out, bytes_out);
}

/* ---- the process ---- */

struct proc_stat {
	double cpu_seconds, start_time;
	uint64_t vsize, rss, threads;
	int ok;
};

/* /proc/self/stat, whose second field (the command) may hold spaces and parentheses: the
 * fields are counted from the last ')'. */
static void read_proc_stat(struct proc_stat *ps)
{
	memset(ps, 0, sizeof(*ps));
	_cleanup_free_ char *text = NULL;
	if (fs_read_all_at(AT_FDCWD, "/proc/self/stat", 4096, &text, NULL) < 0)
		return;
	char *p = strrchr(text, ')');
	if (!p)
		return;
	/* After ") ": field 3 (state) is index 0. */
	unsigned long long f[24] = {0};
	unsigned n = 0;
	p++;
	while (*p && n < ARRAY_SIZE(f)) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		char *end;
		f[n++] = strtoull(p, &end, 10);
		p = end;
		while (*p && *p != ' ')
			p++;
	}
	if (n < 22)
		return;
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	if (tck <= 0 || page <= 0)
		return;
	ps->cpu_seconds = (double)(f[11] + f[12]) / (double)tck;
	ps->threads = f[17];
	ps->vsize = f[20];
	ps->rss = f[21] * (uint64_t)page;
	/* The start time is in ticks after boot; btime in /proc/stat is the boot. */
	_cleanup_free_ char *st = NULL;
	if (fs_read_all_at(AT_FDCWD, "/proc/stat", 1u << 20, &st, NULL) == 0) {
		const char *b = strstr(st, "\nbtime ");
		if (b)
			ps->start_time =
			    (double)strtoull(b + 7, NULL, 10) + (double)f[19] / (double)tck;
	}
	ps->ok = 1;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* ---- rendering ---- */

static int family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int regsrv_metrics_render(const struct regsrv_metrics *mc, const struct regsrv_mgauges *g,
			  struct buf *out)
{
	/* The atomics are only read; the cast lets this take a const pointer. */
	struct regsrv_metrics *m = (struct regsrv_metrics *)mc;
	int r = 0;

	r |= family(out, "registry_http_requests_total", "counter",
		    "Requests answered, by method, route class (handler) and status code.");
	for (unsigned mi = 0; mi < REGSRV_MM__N; mi++)
		for (unsigned h = 0; h < REGSRV_MH__N; h++)
			for (unsigned s = 0; s < REGSRV_MSTATUS_N; s++) {
				uint64_t v = GET(m->requests[mi][h][s]);
				if (!v)
					continue;
				char code[8];
				if (s < ARRAY_SIZE(status_codes))
					snprintf(code, sizeof(code), "%u", status_codes[s]);
				else
					snprintf(code, sizeof(code), "%s",
						 status_classes[s - ARRAY_SIZE(status_codes)]);
				r |= buf_printf(out,
						"registry_http_requests_total{method=\"%s\","
						"handler=\"%s\",code=\"%s\"} %llu\n",
						method_names[mi], handler_names[h], code,
						(unsigned long long)v);
			}

	r |= family(out, "registry_http_request_duration_seconds", "histogram",
		    "Time from the request line to the end of the answer, by route class.");
	for (unsigned h = 0; h < REGSRV_MH__N; h++) {
		uint64_t cum = 0, b[REGSRV_MBUCKETS_N + 1];
		for (unsigned i = 0; i <= REGSRV_MBUCKETS_N; i++)
			b[i] = GET(m->duration[h][i]);
		uint64_t total = 0;
		for (unsigned i = 0; i <= REGSRV_MBUCKETS_N; i++)
			total += b[i];
		if (!total)
			continue;
		for (unsigned i = 0; i < REGSRV_MBUCKETS_N; i++) {
			cum += b[i];
			r |= buf_printf(
			    out,
			    "registry_http_request_duration_seconds_bucket{handler=\"%s\","
			    "le=\"%g\"} %llu\n",
			    handler_names[h], bucket_bounds[i], (unsigned long long)cum);
		}
		r |= buf_printf(out,
				"registry_http_request_duration_seconds_bucket{handler=\"%s\","
				"le=\"+Inf\"} %llu\n",
				handler_names[h], (unsigned long long)total);
		r |= buf_printf(out,
				"registry_http_request_duration_seconds_sum{handler=\"%s\"} %.6f\n",
				handler_names[h], (double)GET(m->duration_us[h]) / 1e6);
		r |= buf_printf(
		    out, "registry_http_request_duration_seconds_count{handler=\"%s\"} %llu\n",
		    handler_names[h], (unsigned long long)total);
	}

	r |= family(out, "registry_http_request_body_bytes_total", "counter",
		    "Request body bytes received.");
	r |= buf_printf(out, "registry_http_request_body_bytes_total %llu\n",
			(unsigned long long)GET(m->bytes_in));
	r |= family(out, "registry_http_response_body_bytes_total", "counter",
		    "Response body bytes sent (HEAD answers count none).");
	r |= buf_printf(out, "registry_http_response_body_bytes_total %llu\n",
			(unsigned long long)GET(m->bytes_out));
	r |= family(out, "registry_http_in_flight_requests", "gauge",
		    "Requests begun and not yet completed.");
	r |= buf_printf(out, "registry_http_in_flight_requests %lld\n",
			(long long)GET(m->in_flight));
	r |= family(out, "registry_http_connections", "gauge", "Open client connections.");
	r |= buf_printf(out, "registry_http_connections %lld\n", (long long)GET(m->connections));
	r |= family(out, "registry_http_connection_limit", "gauge",
		    "Connections served at once; those above get 503.");
	r |= buf_printf(out, "registry_http_connection_limit %llu\n",
			(unsigned long long)g->connection_limit);
	r |= family(out, "registry_http_connections_total", "counter", "Connections accepted.");
	r |= buf_printf(out, "registry_http_connections_total %llu\n",
			(unsigned long long)GET(m->connections_total));
	r |= family(out, "registry_http_connections_refused_total", "counter",
		    "Connections over the limit, answered 503 and closed.");
	r |= buf_printf(out, "registry_http_connections_refused_total %llu\n",
			(unsigned long long)GET(m->connections_refused));
	r |= family(out, "registry_http_connections_timed_out_total", "counter",
		    "Connections closed for sending a request too slowly.");
	r |= buf_printf(out, "registry_http_connections_timed_out_total %llu\n",
			(unsigned long long)GET(m->connections_timeout));
	r |= family(out, "registry_storage_upload_sessions", "gauge",
		    "Blob upload sessions held in memory (their running hash).");
	r |= buf_printf(out, "registry_storage_upload_sessions %llu\n",
			(unsigned long long)g->uploads);
	r |= family(out, "registry_storage_upload_sessions_active", "gauge",
		    "Upload sessions a request is writing to now.");
	r |= buf_printf(out, "registry_storage_upload_sessions_active %llu\n",
			(unsigned long long)g->uploads_active);
	r |= family(out, "registry_server_start_time_seconds", "gauge",
		    "When the server started listening, Unix time.");
	r |= buf_printf(out, "registry_server_start_time_seconds %.3f\n", m->start_time);

	struct proc_stat ps;
	read_proc_stat(&ps);
	if (ps.ok) {
		r |= family(out, "process_cpu_seconds_total", "counter",
			    "User and system CPU time spent, in seconds.");
		r |= buf_printf(out, "process_cpu_seconds_total %.2f\n", ps.cpu_seconds);
		r |= family(out, "process_resident_memory_bytes", "gauge",
			    "Resident memory size in bytes.");
		r |= buf_printf(out, "process_resident_memory_bytes %llu\n",
				(unsigned long long)ps.rss);
		r |= family(out, "process_virtual_memory_bytes", "gauge",
			    "Virtual memory size in bytes.");
		r |= buf_printf(out, "process_virtual_memory_bytes %llu\n",
				(unsigned long long)ps.vsize);
		r |= family(out, "process_threads", "gauge", "Threads of the process.");
		r |= buf_printf(out, "process_threads %llu\n", (unsigned long long)ps.threads);
		if (ps.start_time > 0) {
			r |= family(out, "process_start_time_seconds", "gauge",
				    "Start time of the process since the Unix epoch, in seconds.");
			r |= buf_printf(out, "process_start_time_seconds %.2f\n", ps.start_time);
		}
	}
	long fds = count_fds();
	if (fds >= 0) {
		r |= family(out, "process_open_fds", "gauge", "Open file descriptors.");
		r |= buf_printf(out, "process_open_fds %ld\n", fds);
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		r |= family(out, "process_max_fds", "gauge",
			    "Limit of open file descriptors (the soft limit).");
		r |= buf_printf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	return r ? -ENOMEM : 0;
}
