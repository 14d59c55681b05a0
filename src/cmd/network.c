/* network: user networks (create, ls, inspect, rm, prune) and a container's membership
 * (connect, disconnect), on top of src/net (docs/internals/NET.md) and ctrnet.c.
 *
 * Docker lists three networks on a fresh host: bridge, host and none. berth's "bridge" is
 * the default network of the config file; "host" and "none" are network modes, no networks
 * (netconf.h), but they are listed and inspected as Docker shows them, with fixed ids. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "ctr.h"
#include "ctrnet.h"
#include "digest.h"
#include "format.h"
#include "imagecmd.h"
#include "ipam.h"
#include "net.h"
#include "netconf.h"

#include "banned.h"

static const struct cmd_help network_help = {
    .usage = "berth network COMMAND",
    .summary = "Manage networks",
};

static void print_group_help(FILE *f)
{
	fprintf(f, "\nUsage:  %s\n\n%s\n\nCommands:\n", network_help.usage, network_help.summary);
	fprintf(f, "  connect     Connect a container to a network\n");
	fprintf(f, "  create      Create a network\n");
	fprintf(f, "  disconnect  Disconnect a container from a network\n");
	fprintf(f, "  inspect     Display detailed information on one or more networks\n");
	fprintf(f, "  ls          List networks\n");
	fprintf(f, "  prune       Remove all unused networks\n");
	fprintf(f, "  rm          Remove one or more networks\n");
	fprintf(f, "\nRun 'berth network COMMAND --help' for more information on a command.\n");
}

static struct net_env env_of(struct berth_ctx *ctx)
{
	return (struct net_env){.root = ctx->root,
				.config = ctx->config,
				.nft_prefix = config_get_string(ctx->config, "nft-prefix", NULL)};
}

/* ---- the list of networks, with Docker's host and none ---- */

struct netinfo {
	struct net_conf conf; /* for host and none only name, id and created are set */
	const char *driver;   /* "bridge", "host", "null" */
	int builtin;
};

static void infos_free(struct netinfo *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		net_conf_free(&v[i].conf);
	free(v);
}

static void pseudo_id(const char *mode, char ret[NET_ID_LEN + 1])
{
	_cleanup_free_ char *text = NULL;
	struct digest d;
	if (asprintf(&text, "berth network %s", mode) < 0) {
		memset(ret, '0', NET_ID_LEN);
		ret[NET_ID_LEN] = '\0';
		return;
	}
	digest_buffer(DIGEST_SHA256, text, strlen(text), &d);
	snprintf(ret, NET_ID_LEN + 1, "%.64s", d.hex);
}

static int cmp_info(const void *a, const void *b)
{
	const struct netinfo *x = a, *y = b;
	return strcmp(x->conf.name, y->conf.name);
}

/* Every network sorted by name, host and none included. */
static int list_all(struct berth_ctx *ctx, struct netinfo **ret, size_t *ret_n, struct berr **err)
{
	struct net_conf *confs = NULL;
	size_t n = 0;
	int r = net_conf_list(ctx->root, ctx->config, &confs, &n, err);
	if (r < 0)
		return r;
	struct netinfo *v = calloc(n + 2, sizeof(*v));
	if (!v) {
		for (size_t i = 0; i < n; i++)
			net_conf_free(&confs[i]);
		free(confs);
		return berr_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		v[i].conf = confs[i];
		v[i].driver = "bridge";
		v[i].builtin = confs[i].is_default;
	}
	free(confs);
	static const char *const pseudo[][2] = {{"host", "host"}, {"none", "null"}};
	for (size_t k = 0; k < 2; k++) {
		struct netinfo *p = &v[n + k];
		p->conf.name = strdup(pseudo[k][0]);
		p->conf.labels = json_object();
		pseudo_id(pseudo[k][0], p->conf.id);
		p->driver = pseudo[k][1];
		p->builtin = 1;
		if (!p->conf.name || !p->conf.labels) {
			infos_free(v, n + 2);
			return berr_set(err, ENOMEM, "out of memory");
		}
	}
	n += 2;
	qsort(v, n, sizeof(*v), cmp_info);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Find by name, full id or unique id prefix, as net_conf_load does, host and none too. */
static struct netinfo *find(struct netinfo *v, size_t n, const char *input)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].conf.name, input) || streq(v[i].conf.id, input))
			return &v[i];
	struct netinfo *hit = NULL;
	size_t len = strlen(input);
	for (size_t i = 0; len && i < n; i++)
		if (strncmp(v[i].conf.id, input, len) == 0) {
			if (hit)
				return NULL;
			hit = &v[i];
		}
	return hit;
}

static const char *created_of(const struct netinfo *ni)
{
	/* Docker's zero time for what has no creation record. */
	return ni->conf.created[0] ? ni->conf.created : "0001-01-01T00:00:00Z";
}

/* ---- create ---- */

static const struct cmd_help create_help = {
    .usage = "berth network create [OPTIONS] NETWORK",
    .summary = "Create a network",
};

int cmd_network_create(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_create(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *driver = "bridge", *subnet = NULL, *gateway = NULL, *ip_range = NULL;
	int internal = 0;
	_cleanup_strv_ struct strv labels = STRV_INIT, options = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_STRING, 'd', "driver", &driver, "string",
	     "Driver to manage the Network (only \"bridge\")"},
	    {OPT_STRING, 0, "gateway", &gateway, "string", "IPv4 Gateway for the master subnet"},
	    {OPT_BOOL, 0, "internal", &internal, NULL, "Restrict external access to the network"},
	    {OPT_STRING, 0, "ip-range", &ip_range, "string",
	     "Allocate container ip from a sub-range"},
	    {OPT_LIST, 0, "label", &labels, "list", "Set metadata on a network"},
	    {OPT_LIST, 'o', "opt", &options, "map",
	     "Set driver specific options (com.docker.network.bridge.name, "
	     "com.docker.network.driver.mtu)"},
	    {OPT_STRING, 0, "subnet", &subnet, "string",
	     "Subnet in CIDR format that represents a network segment"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &create_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &create_help, argc - first, 1, 1) < 0)
		return 1;
	if (!streq(driver, "bridge")) {
		fprintf(stderr, "Error response from daemon: plugin \"%s\" not found\n", driver);
		return 1;
	}
	_cleanup_json_ json_t *lj = json_object();
	if (!lj) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	for (size_t i = 0; i < labels.n; i++) {
		char *eq = strchr(labels.v[i], '=');
		if (eq)
			*eq = '\0';
		json_object_set_new(lj, labels.v[i], json_string(eq ? eq + 1 : ""));
	}
	struct net_create_opts o = {
	    .name = argv[first],
	    .subnet = subnet,
	    .gateway = gateway,
	    .ip_range = ip_range,
	    .internal = internal,
	    .labels = lj,
	};
	for (size_t i = 0; i < options.n; i++) {
		const char *kv = options.v[i], *eq = strchr(kv, '=');
		size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
		if (eq && kl == 30 && strncmp(kv, "com.docker.network.bridge.name", kl) == 0) {
			o.bridge = eq + 1;
		} else if (eq && kl == 29 &&
			   strncmp(kv, "com.docker.network.driver.mtu", kl) == 0) {
			char *end;
			long mtu = strtol(eq + 1, &end, 10);
			if (end == eq + 1 || *end || mtu < 68 || mtu > 65535) {
				fprintf(stderr, "Error response from daemon: invalid MTU: %s\n",
					eq + 1);
				return 1;
			}
			o.mtu = (unsigned)mtu;
		} else {
			fprintf(stderr,
				"Error response from daemon: unsupported network option '%s'\n",
				kv);
			return 1;
		}
	}
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(net_conf_free) struct net_conf nc = {0};
	if (net_conf_create(ctx->root, ctx->config, &o, &nc, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	printf("%s\n", nc.id);
	return 0;
}

/* ---- ls ---- */

static const struct cmd_help ls_help = {
    .usage = "berth network ls [OPTIONS]",
    .summary = "List networks",
    .aliases = "berth network ls, berth network list",
};

static const char *const ls_filters[] = {"dangling", "driver", "id",   "label",
					 "name",     "scope",  "type", NULL};

static char *labels_text(json_t *labels)
{
	_cleanup_buf_ struct buf b = BUF_INIT;
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		buf_printf(&b, "%s%s=%s", b.len ? "," : "", k,
			   json_is_string(v) ? json_string_value(v) : "");
	}
	return strdup(b.data ? b.data : "");
}

static json_t *ls_row(const struct netinfo *ni, int no_trunc)
{
	_cleanup_free_ char *labels = labels_text(ni->conf.labels);
	char id[NET_ID_LEN + 1];
	snprintf(id, sizeof(id), "%.*s", no_trunc ? NET_ID_LEN : 12, ni->conf.id);
	if (!labels)
		return NULL;
	return json_pack("{ss ss ss ss ss ss ss ss}", "ID", id, "Name", ni->conf.name, "Driver",
			 ni->driver, "Scope", "local", "IPv6", "false", "Internal",
			 ni->conf.internal ? "true" : "false", "Labels", labels, "CreatedAt",
			 created_of(ni));
}

static json_t *ls_headers(void)
{
	return json_pack("{ss ss ss ss ss ss ss ss}", "ID", "NETWORK ID", "Name", "NAME", "Driver",
			 "DRIVER", "Scope", "SCOPE", "IPv6", "IPV6", "Internal", "INTERNAL",
			 "Labels", "LABELS", "CreatedAt", "CREATED AT");
}

/* filters.Match: the value as a regular expression anywhere in s. */
static int pattern_match(const char *pattern, const char *s)
{
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return strstr(s, pattern) != NULL;
	int m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

/* 1 when the network has no endpoints (for dangling= and prune). */
static int unused(struct berth_ctx *ctx, const struct netinfo *ni)
{
	if (ni->builtin)
		return 0;
	struct net_ipam_entry *v = NULL;
	size_t n = 0;
	if (net_ipam_list(ctx->root, &ni->conf, &v, &n, NULL) < 0)
		return 0;
	net_ipam_entries_free(v, n);
	return n == 0;
}

static int keep(struct berth_ctx *ctx, const struct imgcmd_filters *f, const struct netinfo *ni,
		int dangling, int dangling_set)
{
	const struct strv *v;
	if ((v = imgcmd_filters_get(f, "driver")) && !strv_contains(v, ni->driver))
		return 0;
	if ((v = imgcmd_filters_get(f, "scope")) && !strv_contains(v, "local"))
		return 0;
	if ((v = imgcmd_filters_get(f, "type"))) {
		const char *t = ni->builtin ? "builtin" : "custom";
		if (!strv_contains(v, t))
			return 0;
	}
	if ((v = imgcmd_filters_get(f, "id"))) {
		int any = 0;
		for (size_t i = 0; i < v->n && !any; i++)
			any = strncmp(ni->conf.id, v->v[i], strlen(v->v[i])) == 0;
		if (!any)
			return 0;
	}
	if ((v = imgcmd_filters_get(f, "name"))) {
		int any = 0;
		for (size_t i = 0; i < v->n && !any; i++)
			any = pattern_match(v->v[i], ni->conf.name);
		if (!any)
			return 0;
	}
	if (!imgcmd_filters_match_kv(f, "label", ni->conf.labels))
		return 0;
	if (dangling_set && unused(ctx, ni) != dangling)
		return 0;
	return 1;
}

static int print_rows(json_t *rows, json_t *headers, const char *format, struct berr **err)
{
	struct fmt_template *tpl = NULL;
	if (fmt_template_parse(format, &tpl, err) < 0)
		return berr_wrap(err, "template parsing error");
	int table = fmt_template_is_table(tpl);
	struct fmt_table *t = table ? fmt_table_new() : NULL;
	_cleanup_buf_ struct buf all = BUF_INIT;
	int r = table && !t ? berr_set(err, ENOMEM, "out of memory") : 0;
	if (r == 0 && table) {
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
		r = table ? fmt_table_add(t, b.data ? b.data : "")
			  : buf_printf(&all, "%s\n", b.data ? b.data : "");
	}
	if (r == 0 && table)
		fmt_table_print(t, stdout);
	else if (r == 0 && all.len)
		fputs(all.data, stdout);
	fmt_table_free(t);
	fmt_template_free(tpl);
	return r < 0 ? r : 0;
}

int cmd_network_ls(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_ls(struct berth_ctx *ctx, int argc, char **argv)
{
	int quiet = 0, no_trunc = 0;
	const char *format = NULL;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_LIST, 'f', "filter", &filter_args, "filter",
	     "Provide filter values (e.g. \"driver=bridge\")"},
	    {OPT_STRING, 0, "format", &format, "string",
	     "Format output using a custom template: 'table', 'table TEMPLATE', 'json', "
	     "'TEMPLATE'"},
	    {OPT_BOOL, 0, "no-trunc", &no_trunc, NULL, "Do not truncate the output"},
	    {OPT_BOOL, 'q', "quiet", &quiet, NULL, "Only display network IDs"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &ls_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &ls_help, argc - first, 0, 0) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	int dangling = 0, dangling_set = imgcmd_filters_get(&filters, "dangling") != NULL;
	for (size_t i = 0; i < filter_args.n; i++)
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
	dangling_set = imgcmd_filters_get(&filters, "dangling") != NULL;
	if (imgcmd_filters_validate(&filters, ls_filters, &err) < 0 ||
	    imgcmd_filters_bool(&filters, "dangling", 0, &dangling, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	struct netinfo *v = NULL;
	size_t n = 0;
	if (list_all(ctx, &v, &n, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	_cleanup_json_ json_t *rows = json_array();
	_cleanup_strv_ struct strv ids = STRV_INIT;
	for (size_t i = 0; rows && i < n; i++) {
		if (!keep(ctx, &filters, &v[i], dangling, dangling_set))
			continue;
		json_array_append_new(rows, ls_row(&v[i], no_trunc));
		strv_push(&ids, v[i].conf.id);
	}
	infos_free(v, n);
	if (!rows || json_array_size(rows) != ids.n) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	int default_table = !format || !*format || streq(format, "table");
	if (quiet && default_table) {
		for (size_t i = 0; i < ids.n; i++)
			printf("%.*s\n", no_trunc ? NET_ID_LEN : 12, ids.v[i]);
		return 0;
	}
	if (format && streq(format, "json")) {
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			imgcmd_print_json(stdout, row, JSON_COMPACT | JSON_SORT_KEYS);
		}
		return 0;
	}
	_cleanup_json_ json_t *headers = ls_headers();
	const char *tpl =
	    default_table ? "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}" : format;
	if (!headers || print_rows(rows, headers, tpl, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err->msg : "out of memory");
		return 1;
	}
	return 0;
}

/* ---- inspect ---- */

static const struct cmd_help inspect_help = {
    .usage = "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
    .summary = "Display detailed information on one or more networks",
};

/* Docker's network resource. */
static json_t *network_json(struct berth_ctx *ctx, const struct netinfo *ni)
{
	const struct net_conf *nc = &ni->conf;
	json_t *o = json_object(), *containers = json_object(), *ipam_cfg = json_array();
	json_t *options = json_object();
	int e = !o || !containers || !ipam_cfg || !options;
	if (e) {
		json_decref(o);
		json_decref(containers);
		json_decref(ipam_cfg);
		json_decref(options);
		return NULL;
	}
	int bridged = streq(ni->driver, "bridge");
	if (bridged) {
		char sub[NET_CIDR4_STRLEN], gw[NET_IP4_STRLEN], range[NET_CIDR4_STRLEN];
		json_t *c = json_pack("{s:s,s:s}", "Subnet", net_subnet_format(&nc->subnet, sub),
				      "Gateway", net_ip4_format(nc->gateway, gw));
		if (c && (nc->ip_range.addr != nc->subnet.addr ||
			  nc->ip_range.prefix != nc->subnet.prefix))
			json_object_set_new(c, "IPRange",
					    json_string(net_subnet_format(&nc->ip_range, range)));
		e |= json_array_append_new(ipam_cfg, c) < 0;
		char mtu[16];
		snprintf(mtu, sizeof(mtu), "%u", nc->mtu);
		e |= json_object_set_new(options, "com.docker.network.bridge.name",
					 json_string(nc->bridge)) < 0;
		e |= json_object_set_new(options, "com.docker.network.driver.mtu",
					 json_string(mtu)) < 0;
		struct net_ipam_entry *v = NULL;
		size_t n = 0;
		if (net_ipam_list(ctx->root, nc, &v, &n, NULL) == 0) {
			for (size_t i = 0; i < n; i++) {
				char ip[NET_IP4_STRLEN], cidr[NET_CIDR4_STRLEN + 4], mac[18];
				net_ip4_format(v[i].ip, ip);
				snprintf(cidr, sizeof(cidr), "%s/%u", ip, nc->subnet.prefix);
				snprintf(mac, sizeof(mac), "02:42:%02x:%02x:%02x:%02x",
					 (v[i].ip >> 24) & 0xff, (v[i].ip >> 16) & 0xff,
					 (v[i].ip >> 8) & 0xff, v[i].ip & 0xff);
				char eid[NET_ID_LEN + 1];
				_cleanup_free_ char *text = NULL;
				struct digest d;
				if (asprintf(&text, "berth %s %s", v[i].id, nc->id) >= 0) {
					digest_buffer(DIGEST_SHA256, text, strlen(text), &d);
					snprintf(eid, sizeof(eid), "%.64s", d.hex);
				} else {
					eid[0] = '\0';
				}
				e |= json_object_set_new(containers, v[i].id,
							 json_pack("{s:s,s:s,s:s,s:s,s:s}", "Name",
								   v[i].name ? v[i].name : "",
								   "EndpointID", eid, "MacAddress",
								   mac, "IPv4Address", cidr,
								   "IPv6Address", "")) < 0;
			}
			net_ipam_entries_free(v, n);
		}
	}
	e |= json_object_set_new(o, "Name", json_string(nc->name)) < 0;
	e |= json_object_set_new(o, "Id", json_string(nc->id)) < 0;
	e |= json_object_set_new(o, "Created", json_string(created_of(ni))) < 0;
	e |= json_object_set_new(o, "Scope", json_string("local")) < 0;
	e |= json_object_set_new(o, "Driver", json_string(ni->driver)) < 0;
	e |= json_object_set_new(o, "EnableIPv6", json_false()) < 0;
	e |= json_object_set_new(o, "IPAM",
				 json_pack("{s:s,s:n,s:o}", "Driver", "default", "Options",
					   "Config", ipam_cfg)) < 0;
	e |= json_object_set_new(o, "Internal", json_boolean(nc->internal)) < 0;
	e |= json_object_set_new(o, "Attachable", json_false()) < 0;
	e |= json_object_set_new(o, "Ingress", json_false()) < 0;
	e |= json_object_set_new(o, "ConfigFrom", json_pack("{s:s}", "Network", "")) < 0;
	e |= json_object_set_new(o, "ConfigOnly", json_false()) < 0;
	e |= json_object_set_new(o, "Containers", containers) < 0;
	e |= json_object_set_new(o, "Options", options) < 0;
	e |= json_object_set_new(o, "Labels",
				 nc->labels ? json_deep_copy(nc->labels) : json_object()) < 0;
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int cmd_network_inspect(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_inspect(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL;
	int verbose = 0;
	const struct opt opts[] = {
	    {OPT_STRING, 'f', "format", &format, "string",
	     "Format output using a custom template: 'json', 'TEMPLATE'"},
	    {OPT_BOOL, 'v', "verbose", &verbose, NULL,
	     "Verbose output for diagnostics (the same as without it)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &inspect_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &inspect_help, argc - first, 1, -1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct fmt_template *tpl = NULL;
	if (format && *format && !streq(format, "json") &&
	    fmt_template_parse(format, &tpl, &err) < 0) {
		fprintf(stderr, "template parsing error: %s\n", err->msg);
		return 1;
	}
	struct netinfo *v = NULL;
	size_t n = 0;
	if (list_all(ctx, &v, &n, &err) < 0) {
		fmt_template_free(tpl);
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	int status = 0;
	_cleanup_json_ json_t *all = json_array();
	for (int i = first; i < argc; i++) {
		struct netinfo *ni = find(v, n, argv[i]);
		if (!ni) {
			fprintf(stderr, "Error response from daemon: network %s not found\n",
				argv[i]);
			status = 1;
			continue;
		}
		json_t *j = network_json(ctx, ni);
		if (!j) {
			status = 1;
			continue;
		}
		if (tpl) {
			_cleanup_buf_ struct buf b = BUF_INIT;
			berr_freep(&err);
			if (fmt_template_render(tpl, j, &b, &err) < 0) {
				fprintf(stderr, "template: %s\n", err->msg);
				status = 1;
			} else {
				printf("%s\n", b.data ? b.data : "");
			}
			json_decref(j);
		} else {
			json_array_append_new(all, j);
		}
	}
	infos_free(v, n);
	fmt_template_free(tpl);
	if (!tpl && (json_array_size(all) || !status))
		imgcmd_print_json(stdout, all, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	return status;
}

/* ---- rm, prune ---- */

static const struct cmd_help rm_help = {
    .usage = "berth network rm [OPTIONS] NETWORK [NETWORK...]",
    .summary = "Remove one or more networks",
    .aliases = "berth network rm, berth network remove",
};

/* Take a user network down and remove it: refused while containers are attached. */
static int remove_network(struct berth_ctx *ctx, const struct netinfo *ni, struct berr **err)
{
	if (ni->builtin)
		return berr_set(err, EPERM, "%s is a pre-defined network and cannot be removed",
				ni->conf.name);
	struct net_ipam_entry *v = NULL;
	size_t n = 0;
	int r = net_ipam_list(ctx->root, &ni->conf, &v, &n, err);
	if (r < 0)
		return r;
	net_ipam_entries_free(v, n);
	if (n)
		return berr_set(
		    err, EBUSY,
		    "error while removing network: network %s id %s has active endpoints",
		    ni->conf.name, ni->conf.id);
	struct net_env env = env_of(ctx);
	if ((r = net_network_down(&env, &ni->conf, err)) < 0)
		return r;
	return net_conf_remove(ctx->root, ni->conf.name, err);
}

int cmd_network_rm(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_rm(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	const struct opt opts[] = {
	    {OPT_BOOL, 'f', "force", &force, NULL, "Do not error if the network does not exist"},
	    {0}};
	int first, rc;
	if (cmd_parse(ctx, &rm_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &rm_help, argc - first, 1, -1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	/* Addresses of containers whose monitor was killed would block the removal. */
	ctrnet_repair(ctx, 1, NULL, NULL);
	struct netinfo *v = NULL;
	size_t n = 0;
	if (list_all(ctx, &v, &n, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	int status = 0;
	for (int i = first; i < argc; i++) {
		struct netinfo *ni = find(v, n, argv[i]);
		berr_freep(&err);
		if (!ni && force) {
			continue; /* Docker's --force: a missing network is no error */
		} else if (!ni) {
			fprintf(stderr, "Error response from daemon: network %s not found\n",
				argv[i]);
			status = 1;
		} else if (remove_network(ctx, ni, &err) < 0) {
			fprintf(stderr, "Error response from daemon: %s\n", err->msg);
			status = 1;
		} else {
			printf("%s\n", argv[i]);
		}
	}
	infos_free(v, n);
	return status;
}

static const struct cmd_help prune_help = {
    .usage = "berth network prune [OPTIONS]",
    .summary = "Remove all unused networks",
};

static const char *const prune_filters[] = {"label", "until", NULL};

static int confirm(const char *question)
{
	printf("%s [y/N] ", question);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

/* "until": a timestamp (RFC 3339, Unix seconds) or a duration before now ("24h"). */
static int parse_until(const char *s, time_t now, time_t *ret)
{
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end != s && !*end) {
		*ret = (time_t)n;
		return 0;
	}
	if (end != s && end[1] == '\0' && n >= 0) {
		long long mul = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 0;
		if (mul) {
			*ret = now - (time_t)(n * mul);
			return 0;
		}
	}
	return fmt_parse_rfc3339(s, ret);
}

int cmd_network_prune(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_prune(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	_cleanup_strv_ struct strv filter_args = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_LIST, 0, "filter", &filter_args, "filter",
	     "Provide filter values (e.g. \"until=<timestamp>\")"},
	    {OPT_BOOL, 'f', "force", &force, NULL, "Do not prompt for confirmation"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &prune_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &prune_help, argc - first, 0, 0) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_(imgcmd_filters_free) struct imgcmd_filters filters = {0};
	for (size_t i = 0; i < filter_args.n; i++)
		if (imgcmd_filters_add(&filters, filter_args.v[i], &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			return 1;
		}
	const struct strv *u = imgcmd_filters_get(&filters, "until");
	time_t until = 0;
	if (imgcmd_filters_validate(&filters, prune_filters, &err) < 0 ||
	    (u && u->n > 1 && berr_set(&err, EINVAL, "more than one until filter specified")) ||
	    (u && parse_until(u->v[0], time(NULL), &until) < 0 &&
	     berr_set(&err, EINVAL, "invalid until filter '%s'", u->v[0]))) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	if (!force && !confirm("WARNING! This will remove all custom networks not used by at least "
			       "one container.\nAre you sure you want to continue?"))
		return 0;
	/* Containers whose monitor was killed still hold addresses: free them first. */
	size_t repaired = 0;
	if (ctrnet_repair(ctx, 1, &repaired, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	struct netinfo *v = NULL;
	size_t n = 0;
	if (list_all(ctx, &v, &n, &err) < 0) {
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}
	int shown = 0, status = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].builtin || !unused(ctx, &v[i]) ||
		    !imgcmd_filters_match_kv(&filters, "label", v[i].conf.labels))
			continue;
		time_t created;
		if (u && fmt_parse_rfc3339(v[i].conf.created, &created) == 0 && created >= until)
			continue;
		berr_freep(&err);
		if (remove_network(ctx, &v[i], &err) < 0) {
			fprintf(stderr, "Error response from daemon: %s\n", err->msg);
			status = 1;
			continue;
		}
		if (!shown++)
			printf("Deleted Networks:\n");
		printf("%s\n", v[i].conf.name);
	}
	infos_free(v, n);
	return status;
}

/* ---- connect, disconnect ---- */

static const struct cmd_help connect_help = {
    .usage = "berth network connect [OPTIONS] NETWORK CONTAINER",
    .summary = "Connect a container to a network",
};

int cmd_network_connect(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_connect(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *ip = NULL;
	_cleanup_strv_ struct strv aliases = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_LIST, 0, "alias", &aliases, "strings",
	     "Add network-scoped alias for the container"},
	    {OPT_STRING, 0, "ip", &ip, "string", "IPv4 address (e.g., \"172.30.100.104\")"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &connect_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &connect_help, argc - first, 2, 2) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first + 1], &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	int r = ctrnet_connect(ctx, &c, argv[first], ip, &aliases, &err);
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	return 0;
}

static const struct cmd_help disconnect_help = {
    .usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER",
    .summary = "Disconnect a container from a network",
};

int cmd_network_disconnect(struct berth_ctx *ctx, int argc, char **argv);
int cmd_network_disconnect(struct berth_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	const struct opt opts[] = {
	    {OPT_BOOL, 'f', "force", &force, NULL,
	     "Force the container to disconnect from a network"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &disconnect_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &disconnect_help, argc - first, 2, 2) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	struct ctr c;
	if (ctr_lookup(ctx->root, argv[first + 1], &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	int r = ctrnet_disconnect(ctx, &c, argv[first], force, &err);
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	return 0;
}

/* ---- cleanup: the exit command of a container's monitor (not listed in help) ---- */

static const struct cmd_help cleanup_help = {
    .usage = "berth network cleanup [--from-monitor] CONTAINER-ID",
    .summary = "Undo the networking of a container that stopped (run by its monitor)",
};

static int cmd_network_cleanup(struct berth_ctx *ctx, int argc, char **argv)
{
	int from_monitor = 0;
	const struct opt opts[] = {
	    {OPT_BOOL, 0, "from-monitor", &from_monitor, NULL,
	     "Run by the container's monitor, which reaps what is left running"},
	    {0}};
	int first, rc;
	if (cmd_parse(ctx, &cleanup_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &cleanup_help, argc - first, 1, 1) < 0)
		return 1;
	_cleanup_berr_ struct berr *err = NULL;
	if (!rt_id_valid(argv[first])) {
		cmd_errorf(ctx, "'%s' is no container id", argv[first]);
		return 1;
	}
	int r = from_monitor ? ctrnet_cleanup_exit(ctx->root, argv[first], &err)
			     : ctrnet_cleanup(ctx->root, argv[first], &err);
	if (r < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct berth_ctx *ctx, int argc, char **argv);
	const char *full;
} subcommands[] = {
    {"connect", cmd_network_connect, "network connect"},
    {"create", cmd_network_create, "network create"},
    {"disconnect", cmd_network_disconnect, "network disconnect"},
    {"inspect", cmd_network_inspect, "network inspect"},
    {"ls", cmd_network_ls, "network ls"},
    {"list", cmd_network_ls, "network ls"},
    {"prune", cmd_network_prune, "network prune"},
    {"rm", cmd_network_rm, "network rm"},
    {"remove", cmd_network_rm, "network rm"},
    {"cleanup", cmd_network_cleanup, "network cleanup"},
};

int cmd_network(struct berth_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
		print_group_help(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (streq(argv[1], subcommands[i].name)) {
			ctx->cmd_name = subcommands[i].full;
			return subcommands[i].fn(ctx, argc - 1, argv + 1);
		}
	fprintf(stderr, "berth: 'network %s' is not a berth command.\nSee 'berth network --help'\n",
		argv[1]);
	return EXIT_ENGINE;
}
