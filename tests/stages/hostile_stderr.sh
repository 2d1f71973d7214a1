#!/bin/sh
# hostile_stderr: writes hostile bytes to stderr (quotes, backslashes, control
# bytes, invalid UTF-8, a fake JSON log line, a line without a newline), then
# valid output: logs must stay one valid line per event.
printf 'he said "hi" \\ and left\n' >&2
printf 'bad utf8: \377\376 lone \200 overlong \300\257 cut \342\202\n' >&2
printf 'control: \001\002\033[31mred\033[0m tab\there\r\n' >&2
printf '{"level":"error","msg":"forged"}\n' >&2
printf 'no newline at the end \342\202\254' >&2
echo '{"ok": true}'
