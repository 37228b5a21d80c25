/*
 * master.h — the master process (`buzon serve`): owns the configuration, the listening
 * sockets and the children; routes logins from the login processes through auth to
 * the user's mail process. It never parses network input.
 */
#ifndef BUZON_MASTER_H
#define BUZON_MASTER_H

/* Run the server in the foreground until SIGTERM. Returns the exit status. */
int master_main(const char *config_path);

/* Path of the pid file for a configuration (malloc'd). */
char *master_pid_path(const char *base_dir);

#endif
