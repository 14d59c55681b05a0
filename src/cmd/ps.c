/* ps (container ls, container list): Docker's container listing, its filters and its
 * --format fields. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "ctr.h"
#include "ctrnet.h"
#include "format.h"
#include "fs.h"
#include "imagecmd.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help ps_help = {
    .usage = "berth ps [OPTIONS]",
    .summary = "List containers",
    .aliases = "berth container ls, berth container list, berth container ps, berth ps",
};

static const char *const ps_filters[] = {"id",	    "name",	"label",  "label!", "status",
					 "exited",  "ancestor", "before", "since",  "network",
					 "publish", "expose",	NULL};

static const char *const statuses[] = {"created", "restarting", "running", "removing",
				       "paused",  "exited",	"dead"};

/* Go's strconv.Quote for the COMMAND column. */
static int go_quote(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int r = buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; r == 0 && *p; p++) {
		switch (*p) {
		case '"':
			r = buf_puts(b, "\\\"");
			break;
		case '\\':
			r = buf_puts(b, "\\\\");
			break;
		case '\n':
			r = buf_puts(b, "\\n");
			break;
		case '\t':
			r = buf_puts(b, "\\t");
			break;
		case '\r':
			r = buf_puts(b, "\\r");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				char e[5] = {'\\', 'x', hex[*p >> 4], hex[*p & 15], 0};
				r = buf_puts(b, e);
			} else {
				r = buf_putc(b, (char)*p);
			}
		}
	}
	return r ? r : buf_putc(b, '"');
}

/* Docker's stringutils.Ellipsis: at most max runes, the last being "…". */
static char *ellipsis(const char *s, size_t max)
{
	size_t runes = 0, cut = 0;
	for (size_t i = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (runes == max - 1)
				cut = i;
			runes++;
		}
	if (runes <= max)
		return strdup(s);
	char *out = NULL;
	if (asprintf(&out, "%.*s\xe2\x80\xa6", (int)cut, s) < 0)
		return NULL;
	return out;
}

static char *command_of(const struct ctr *c, int no_trunc)
{
	_cleanup_buf_ struct buf cmd = BUF_INIT, q = BUF_INIT;
	json_t *path = json_object_get(c->config, "Path");
	json_t *args = json_object_get(c->config, "Args");
	buf_puts(&cmd, json_is_string(path) ? json_string_value(path) : "");
	size_t i;
	json_t *a;
	json_array_foreach(args, i, a) if (json_is_string(a))
	    buf_printf(&cmd, " %s", json_string_value(a));
	_cleanup_free_ char *shown =
	    no_trunc ? strdup(cmd.data ? cmd.data : "") : ellipsis(cmd.data ? cmd.data : "", 20);
	if (!shown || go_quote(&q, shown) < 0)
		return NULL;
	return buf_steal(&q);
}

static char *labels_of(const struct ctr *c)
{
	json_t *l = json_object_get(json_object_get(c->config, "Config"), "Labels");
	_cleanup_buf_ struct buf b = BUF_INIT;
	const char *k;
	json_t *v;
	/* Sorted, as Go's map order is random and docker's output should not be. */
	_cleanup_strv_ struct strv keys = STRV_INIT;
	if (json_is_object(l))
		json_object_foreach(l, k, v) if (strv_push(&keys, k) < 0) return NULL;
	strv_sort(&keys);
	for (size_t i = 0; i < keys.n; i++) {
		json_t *x = json_object_get(l, keys.v[i]);
		buf_printf(&b, "%s%s=%s", i ? "," : "", keys.v[i],
			   json_is_string(x) ? json_string_value(x) : "");
	}
	return strdup(b.data ? b.data : "");
}

static char *mounts_of(const struct ctr *c)
{
	json_t *m = json_object_get(c->config, "Mounts");
	_cleanup_buf_ struct buf b = BUF_INIT;
	size_t i;
	json_t *x;
	json_array_foreach(m, i, x)
	{
		json_t *s = json_object_get(x, "Source");
		const char *src = json_is_string(s) ? json_string_value(s) : "";
		_cleanup_free_ char *e = ellipsis(src, 15);
		buf_printf(&b, "%s%s", b.len ? "," : "", e ? e : "");
	}
	return strdup(b.data ? b.data : "");
}

/* One row as the template sees it (docker's containerContext). */
static json_t *row_object(const struct ctr *c, int no_trunc, int64_t now, const char *size)
{
	_cleanup_free_ char *cmd = command_of(c, no_trunc);
	_cleanup_free_ char *status = ctr_status_text(c, now);
	_cleanup_free_ char *created = imgcmd_go_time((time_t)(c->created_ns / 1000000000));
	_cleanup_free_ char *running_for =
	    fmt_time_ago((time_t)(c->created_ns / 1000000000), (time_t)(now / 1000000000));
	_cleanup_free_ char *labels = labels_of(c);
	_cleanup_free_ char *mounts = mounts_of(c);
	_cleanup_free_ char *ports = ctrnet_ps_ports(c);
	if (!cmd || !status || !created || !running_for || !labels || !mounts || !ports)
		return NULL;
	char id[RT_ID_LEN + 1];
	snprintf(id, sizeof(id), "%.*s", no_trunc ? RT_ID_LEN : 12, c->id);
	const char *net = "";
	json_t *hc = json_object_get(c->config, "HostConfig");
	json_t *nm = json_object_get(hc, "NetworkMode");
	if (json_is_string(nm))
		net = json_string_value(nm);
	return json_pack("{ss ss ss ss ss ss ss ss ss ss ss ss ss ss}", "ID", id, "Image",
			 ctr_image_name(c), "Command", cmd, "CreatedAt", created, "RunningFor",
			 running_for, "Ports", ports, "State", rt_status_name(c->state.status),
			 "Status", status, "Size", size ? size : "0B", "Names", c->name, "Labels",
			 labels, "Mounts", mounts, "Networks", net, "LocalVolumes", "0");
}

static json_t *header_object(void)
{
	return json_pack("{ss ss ss ss ss ss ss ss ss ss ss ss ss ss}", "ID", "CONTAINER ID",
			 "Image", "IMAGE", "Command", "COMMAND", "CreatedAt", "CREATED AT",
			 "RunningFor", "CREATED", "Ports", "PORTS", "State", "STATE", "Status",
			 "STATUS", "Size", "SIZE", "Names", "NAMES", "Labels", "LABELS", "Mounts",
			 "MOUNTS", "Networks", "NETWORKS", "LocalVolumes", "LOCAL VOLUMES");
}

/* filters.Match: the value as a regular expression anywhere in the source. */
static int pattern_match(const char *pattern, const char *s)
{
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return strstr(s, pattern) != NULL;
	int m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

static int any_match(const struct strv *values, const char *s, int prefix)
{
	for (size_t i = 0; i < values->n; i++)
		if (prefix ? strncmp(s, values->v[i], strlen(values->v[i])) == 0
			   : pattern_match(values->v[i], s))
			return 1;
	return 0;
}

/* A publish= or expose= value: a port or a range, and a protocol (tcp by default). */
struct port_filter {
	unsigned lo, hi;
	char proto[8];
};

struct port_filters {
	struct port_filter *v;
	size_t n;
};

static int parse_port_num(const char *s, size_t len, unsigned *ret)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Docker's forms: PORT[/PROTO] or START-END[/PROTO]. */
static int port_filters_parse(const char *key, const struct strv *values, struct port_filters *ret)
{
	for (size_t i = 0; values && i < values->n; i++) {
		const char *v = values->v[i];
		if (strchr(v, ':')) {
			fprintf(stderr, "Error: filter for '%s' should not contain ':': %s\n", key,
				v);
			return -EINVAL;
		}
		struct port_filter pf = {.proto = "tcp"};
		const char *slash = strchr(v, '/');
		size_t plen = slash ? (size_t)(slash - v) : strlen(v);
		if (slash && (!slash[1] || strlen(slash + 1) >= sizeof(pf.proto))) {
			fprintf(stderr, "Error: error while looking up for %s %s: invalid proto\n",
				key, v);
			return -EINVAL;
		}
		if (slash)
			snprintf(pf.proto, sizeof(pf.proto), "%s", slash + 1);
		const char *dash = memchr(v, '-', plen);
		int r = dash ? parse_port_num(v, (size_t)(dash - v), &pf.lo)
			     : parse_port_num(v, plen, &pf.lo);
		if (r == 0)
			r = dash ? parse_port_num(dash + 1, plen - (size_t)(dash + 1 - v), &pf.hi)
				 : (pf.hi = pf.lo, 0);
		if (r < 0 || pf.hi < pf.lo) {
			fprintf(stderr, "Error: error while looking up for %s %s: invalid port\n",
				key, v);
			return -EINVAL;
		}
		struct port_filter *nv = realloc(ret->v, (ret->n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		ret->v = nv;
		ret->v[ret->n++] = pf;
	}
	return 0;
}

/* Whether a key of ports ("80/tcp", as in HostConfig.PortBindings and
 * Config.ExposedPorts) falls in one of pf. */
static int ports_match(const struct port_filters *pf, json_t *ports)
{
	const char *k;
	json_t *val;
	json_object_foreach(ports, k, val)
	{
		const char *slash = strchr(k, '/');
		unsigned port;
		if (!slash || parse_port_num(k, (size_t)(slash - k), &port) < 0)
			continue;
		for (size_t i = 0; i < pf->n; i++)
			if (port >= pf->v[i].lo && port <= pf->v[i].hi &&
			    streq(slash + 1, pf->v[i].proto))
				return 1;
	}
	return 0;
}

/* Docker's network filter: the network's name or (a prefix of) its id, among the
 * container's networks (its network mode, or the networks it is attached to). */
static int network_match(const struct strv *values, json_t *config)
{
	json_t *nm = json_object_get(json_object_get(config, "HostConfig"), "NetworkMode");
	if (json_is_string(nm) && strv_contains(values, json_string_value(nm)))
		return 1;
	json_t *eps =
	    json_object_get(json_object_get(config, "NetworkingConfig"), "EndpointsConfig");
	const char *k;
	json_t *ep;
	json_object_foreach(eps, k, ep)
	{
		if (strv_contains(values, k))
			return 1;
		json_t *id = json_object_get(ep, "NetworkID");
		for (size_t i = 0; json_is_string(id) && i < values->n; i++)
			if (*values->v[i] &&
			    strncmp(json_string_value(id), values->v[i], strlen(values->v[i])) == 0)
				return 1;
	}
	return 0;
}

static void port_filters_free(struct port_filters *p)
{
	free(p->v);
}

struct filter_ctx {
	const struct imgcmd_filters *f;
	struct port_filters publish, expose; /* borrowed */
	struct strv ancestors;		     /* image ids */
	int64_t before_ns, since_ns;
	int have_before, have_since;
};

static int keep(const struct filter_ctx *fc, const struct ctr *c)
{
	const struct imgcmd_filters *f = fc->f;
	const struct strv *v;
	if ((v = imgcmd_filters_get(f, "id")) && !any_match(v, c->id, 1))
		return 0;
	if ((v = imgcmd_filters_get(f, "name")) && !any_match(v, c->name, 0))
		return 0;
	json_t *labels = json_object_get(json_object_get(c->config, "Config"), "Labels");
	if (!imgcmd_filters_match_kv(f, "label", labels))
		return 0;
	if (imgcmd_filters_get(f, "label!") && imgcmd_filters_match_kv(f, "label!", labels))
		return 0;
	if ((v = imgcmd_filters_get(f, "status")) &&
	    !strv_contains(v, rt_status_name(c->state.status)))
		return 0;
	if ((v = imgcmd_filters_get(f, "exited"))) {
		char code[16];
		snprintf(code, sizeof(code), "%d", c->state.exit_code);
		if (c->state.status != RT_STATUS_EXITED || !strv_contains(v, code))
			return 0;
	}
	if (imgcmd_filters_get(f, "ancestor")) {
		json_t *img = json_object_get(c->config, "Image");
		if (!json_is_string(img) || !strv_contains(&fc->ancestors, json_string_value(img)))
			return 0;
	}
	if ((v = imgcmd_filters_get(f, "network")) && !network_match(v, c->config))
		return 0;
	if (fc->publish.n &&
	    !ports_match(&fc->publish,
			 json_object_get(json_object_get(c->config, "HostConfig"), "PortBindings")))
		return 0;
	if (fc->expose.n &&
	    !ports_match(&fc->expose,
			 json_object_get(json_object_get(c->config, "Config"), "ExposedPorts")))
		return 0;
	if (fc->have_before && c->created_ns >= fc->before_ns)
		return 0;
	if (fc->have_since && c->created_ns <= fc->since_ns)
		return 0;
	return 1;
}

static int container_time(struct berth_ctx *ctx, const char *name, int64_t *ret, struct berr **err)
{
	struct ctr c;
	int r = ctr_lookup(ctx->root, name, &c, err);
	if (r < 0)
		return r;
	*ret = c.created_ns;
	ctr_free(&c);
	return 0;
}

static int print_rows(json_t *rows, const char *format, struct berr **err)
{
	struct fmt_template *tpl = NULL;
	int r = fmt_template_parse(format, &tpl, err);
	if (r < 0)
		return berr_wrap(err, "template parsing error");
	int table = fmt_template_is_table(tpl);
	struct fmt_table *t = table ? fmt_table_new() : NULL;
	_cleanup_json_ json_t *headers = header_object();
	_cleanup_buf_ struct buf all = BUF_INIT;
	if ((table && !t) || !headers) {
		fmt_template_free(tpl);
		fmt_table_free(t);
		return berr_set(err, ENOMEM, "out of memory");
	}
	if (table) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		r = fmt_template_header(tpl, headers, &b, err);
		if (r == 0)
			r = fmt_table_add(t, b.data ? b.data : "");
	}
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (r < 0)
			break;
		_cleanup_buf_ struct buf b = BUF_INIT;
		r = fmt_template_render(tpl, row, &b, err);
		if (r < 0) {
			berr_wrap(err, "template parsing error");
			break;
		}
		if (table)
			r = fmt_table_add(t, b.data ? b.data : "");
		else
			r = buf_printf(&all, "%s\n", b.data ? b.data : "");
	}
	if (r == 0 && table)
		fmt_table_print(t, stdout);
	else if (r == 0 && all.len)
		fputs(all.data, stdout);
	fmt_table_free(t);
	fmt_template_free(tpl);
	return r;
}

int cmd_ps(struct berth_ctx *ctx, int argc, char **argv)
{
	int all = 0, latest = 0, no_trunc = 0, quiet = 0, size = 0;
	long last = -1;
	const char *format = NULL;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_BOOL, 'a', "all", &all, NULL, "Show all containers (default shows just running)"},
	    {OPT_LIST, 'f', "filter", &filter_args, "filter",
	     "Filter output based on conditions provided"},
	    {OPT_STRING, 0, "format", &format, "string",
	     "Format output: 'table', 'table TEMPLATE', 'json' or a Go template"},
	    {OPT_INT, 'n', "last", &last, "int",
	     "Show n last created containers (includes all states)"},
	    {OPT_BOOL, 'l', "latest", &latest, NULL,
	     "Show the latest created container (includes all states)"},
	    {OPT_BOOL, 0, "no-trunc", &no_trunc, NULL, "Don't truncate output"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only display container IDs"},
	    {OPT_BOOL, 's', "size", &size, NULL, "Display total file sizes"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &ps_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (first < argc) {
		fprintf(stderr,
			"\"berth %s\" accepts no arguments.\nSee 'berth %s --help'.\n\nUsage:  "
			"%s\n\n%s\n",
			ctx->cmd_name, ctx->cmd_name, ps_help.usage, ps_help.summary);
		return 1;
	}
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	for (size_t i = 0; i < filter_args.n; i++)
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
	if (imgcmd_filters_validate(&filters, ps_filters, &err) < 0) {
		fprintf(stderr, "Error: %s\n", err->msg);
		return 1;
	}
	const struct strv *sv = imgcmd_filters_get(&filters, "status");
	for (size_t i = 0; sv && i < sv->n; i++) {
		int ok = 0;
		for (size_t k = 0; k < ARRAY_SIZE(statuses); k++)
			ok |= streq(sv->v[i], statuses[k]);
		if (!ok) {
			fprintf(stderr, "Error: invalid filter 'status=%s'\n", sv->v[i]);
			return 1;
		}
	}
	const struct strv *ev = imgcmd_filters_get(&filters, "exited");
	for (size_t i = 0; ev && i < ev->n; i++) {
		char *end;
		strtol(ev->v[i], &end, 10);
		if (!*ev->v[i] || *end) {
			fprintf(stderr, "Error: invalid filter 'exited=%s'\n", ev->v[i]);
			return 1;
		}
	}
	if (latest)
		last = 1;
	/* Docker: -n, -l, and the status and exited filters look at every container. */
	if (last > 0 || sv || ev)
		all = 1;

	_cleanup_(port_filters_free) struct port_filters publish = {0}, expose = {0};
	if (port_filters_parse("publish", imgcmd_filters_get(&filters, "publish"), &publish) < 0 ||
	    port_filters_parse("expose", imgcmd_filters_get(&filters, "expose"), &expose) < 0)
		return 1;
	struct filter_ctx fc = {.f = &filters, .publish = publish, .expose = expose};
	const struct strv *bv = imgcmd_filters_get(&filters, "before");
	const struct strv *snc = imgcmd_filters_get(&filters, "since");
	if ((bv && container_time(ctx, bv->v[0], &fc.before_ns, &err) < 0) ||
	    (snc && container_time(ctx, snc->v[0], &fc.since_ns, &err) < 0)) {
		fprintf(stderr, "Error: %s\n", err->msg);
		strv_free(&fc.ancestors);
		return 1;
	}
	fc.have_before = bv != NULL;
	fc.have_since = snc != NULL;
	const struct strv *av = imgcmd_filters_get(&filters, "ancestor");
	if (av) {
		_cleanup_store_ struct store *s = NULL;
		if (store_open(ctx->root, &s, &err) < 0) {
			cmd_error(ctx, err);
			return EXIT_ENGINE;
		}
		for (size_t i = 0; i < av->n; i++) {
			char *id = NULL;
			if (store_image_resolve(s, av->v[i], &id, &err) == 0)
				strv_push_take(&fc.ancestors, id);
			berr_freep(&err);
		}
	}

	struct ctr *v;
	size_t n;
	/* Containers whose monitor was killed: their networking is undone here. */
	ctrnet_repair(ctx, 0, NULL, NULL);
	if (ctr_list(ctx->root, &v, &n, &err) < 0) {
		strv_free(&fc.ancestors);
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	int64_t now = rt_time_now_ns();
	_cleanup_json_ json_t *rows = json_array();
	_cleanup_strv_ struct strv ids = STRV_INIT;
	long shown = 0;
	for (size_t i = 0; rows && i < n; i++) {
		const struct ctr *c = &v[i];
		int up = c->state.status == RT_STATUS_RUNNING ||
			 c->state.status == RT_STATUS_PAUSED ||
			 c->state.status == RT_STATUS_RESTARTING;
		if (!all && !up)
			continue;
		if (!keep(&fc, c))
			continue;
		if (last > 0 && shown >= last)
			break;
		shown++;
		_cleanup_free_ char *sz = NULL;
		if (size) {
			uint64_t rw = 0;
			_cleanup_free_ char *upper = NULL;
			if (asprintf(&upper, "%s/containers/%s/upper", ctx->root, c->id) >= 0)
				fs_tree_size_at(AT_FDCWD, upper, &rw);
			sz = fmt_human_size(rw);
		}
		json_array_append_new(rows, row_object(c, no_trunc, now, sz));
		strv_push(&ids, c->id);
	}
	ctr_list_free(v, n);
	strv_free(&fc.ancestors);
	if (!rows || json_array_size(rows) != ids.n) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	int default_table = !format || !*format || streq(format, "table");
	if (quiet && default_table) {
		for (size_t i = 0; i < ids.n; i++)
			printf("%.*s\n", no_trunc ? RT_ID_LEN : 12, ids.v[i]);
		return 0;
	}
	if (format && streq(format, "json")) {
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		    imgcmd_print_json(stdout, row, JSON_COMPACT | JSON_SORT_KEYS);
		return 0;
	}
	const char *tpl =
	    default_table ? (size ? "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}"
				    "\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}\\t{{.Size}}"
				  : "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}"
				    "\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}")
			  : format;
	if (print_rows(rows, tpl, &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		return 1;
	}
	return 0;
}
