/* berth-monitor: the per-container monitor program, started by rt_monitor_start().
 * Everything is in monitor.c; this file only gives it a main() of its own, so that the
 * program can be linked statically and small (see monitor.h). */
#include "monitor.h"

int main(int argc, char **argv)
{
	return rt_monitor_main(argc, argv);
}
