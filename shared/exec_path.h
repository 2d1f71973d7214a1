/* exec_path: the one PATH search of stageq, as execvp does it. The worker
 * uses it to list the paths it tries to execve, the pipelines loader to check
 * that an exec stage's program exists. Never allocates, never prints. */
#ifndef STAGEQ_EXEC_PATH_H
#define STAGEQ_EXEC_PATH_H

#define EXEC_PATH_DEFAULT "/usr/local/bin:/usr/bin:/bin" /* when PATH is unset */

/* Calls fn(candidate, arg) for each path execve should try for prog, in
 * order: prog itself when it has a '/', else "<dir>/<prog>" for each entry of
 * the environment's PATH (an empty entry meaning "./<prog>"). candidate is
 * borrowed for the call only. Stops at the first non-zero return of fn and
 * returns it; 0 when fn returned 0 for all; -1 when a candidate does not fit
 * PATH_MAX (fn is then not called for it and the walk goes on). */
int exec_path_each(const char *prog, int (*fn)(const char *candidate, void *arg), void *arg);

#endif
