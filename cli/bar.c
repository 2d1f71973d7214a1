/* bar: shows a watched job — on a terminal one line redrawn in place ("\r" +
 * clear-to-end) sized to the window, with the elapsed time and the API's ETA
 * (eta_s) ticking between samples; otherwise plain lines, one per change of
 * state, stage or tenth of progress. Writes only to its own stream. */
#include "cli.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_WIDTH_DEFAULT 80
#define BAR_CELLS_MIN     10
#define BAR_CELLS_MAX     40

/* Formats a duration in ms as m:ss (or h:mm:ss) into out. */
static void bar_format_duration(int64_t ms, char *out, size_t len)
{
    long long s = ms < 0 ? 0 : (long long)(ms / 1000);

    if (s >= 3600)
        snprintf(out, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, len, "%lld:%02lld", s / 60, s % 60);
}

void bar_init(struct bar *b, FILE *out, bool is_tty)
{
    struct winsize ws;

    memset(b, 0, sizeof(*b));
    b->out = out;
    b->is_tty = is_tty;
    b->width = BAR_WIDTH_DEFAULT;
    if (is_tty && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        b->width = ws.ws_col;
    b->last_stage = -1;
    b->last_decile = -1;
}

/* Formats an ETA in seconds as "45s", "1m20s" or "2h05m" into out. */
static void bar_format_eta(double s, char *out, size_t len)
{
    long long t = s <= 0 ? 0 : (long long)(s + 0.5);

    if (t >= 3600)
        snprintf(out, len, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(out, len, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(out, len, "%llds", t);
}

/* The API's ETA of the sample taken at sample_ms, counted down to now_ms, or
 * "--" when the API gave none (null or absent eta_s). */
static void bar_eta(const struct job_view *v, int64_t sample_ms, int64_t now_ms, char *out,
                    size_t len)
{
    double left;

    if (!v->has_eta) {
        snprintf(out, len, "--");
        return;
    }
    left = v->eta_s - (double)(now_ms - sample_ms) / 1000.0;
    bar_format_eta(left, out, len);
}

static void bar_draw(struct bar *b, const struct job_view *v, int64_t sample_ms, int64_t now_ms)
{
    char head[128], tail[96], elapsed[32], eta[32], cells[BAR_CELLS_MAX + 1], line[1024];
    int pct = (int)(v->progress * 100.0), ncells, nfull, room, msglen, i;

    bar_format_duration(now_ms - b->t0_ms, elapsed, sizeof(elapsed));
    if (strcmp(v->state, "scheduled") == 0) {
        snprintf(line, sizeof(line), "[%s] due at %s  elapsed %s", v->state,
                 v->run_at[0] ? v->run_at : "?", elapsed);
    } else if (strcmp(v->state, "running") != 0) {
        snprintf(line, sizeof(line), "[%s] %s  elapsed %s", v->state,
                 strcmp(v->state, "queued") == 0 ? "waiting for a worker" : "", elapsed);
    } else {
        bar_eta(v, sample_ms, now_ms, eta, sizeof(eta));
        snprintf(head, sizeof(head), "[stage %d/%d %s] ", v->stage, v->stage_count, v->stage_name);
        snprintf(tail, sizeof(tail), "  elapsed %s  ETA %s", elapsed, eta);
        room = b->width - 1 - (int)strlen(head) - (int)strlen(tail) - 2 - 6;
        /* The message takes what the bar can spare beyond its minimum; a cut
         * message would show wrong numbers, so it shows whole or not at all. */
        msglen = (int)strlen(v->message);
        if (msglen > 0 && room - msglen - 2 < BAR_CELLS_MIN)
            msglen = 0;
        ncells = room - (msglen > 0 ? msglen + 2 : 0);
        if (ncells > BAR_CELLS_MAX)
            ncells = BAR_CELLS_MAX;
        if (ncells < BAR_CELLS_MIN)
            ncells = BAR_CELLS_MIN;
        nfull = (int)(v->progress * ncells);
        for (i = 0; i < ncells; i++)
            cells[i] = i < nfull ? '#' : '-';
        cells[ncells] = '\0';
        snprintf(line, sizeof(line), "%s[%s] %3d%%%s%.*s%s", head, cells, pct,
                 msglen > 0 ? "  " : "", msglen, v->message, tail);
    }
    if ((int)strlen(line) > b->width - 1)
        line[b->width - 1] = '\0';
    fprintf(b->out, "\r%s\033[K", line);
    fflush(b->out);
    b->has_line = true;
}

/* Plain mode: one line for each stage that began and ended between two
 * samples (up to, not including, stage `upto`), so every stage is named. */
static void bar_plain_skipped(struct bar *b, const struct job_view *v, int upto)
{
    int k;

    for (k = (b->last_stage > 0 ? b->last_stage + 1 : 1); k < upto; k++)
        fprintf(b->out, "stage %d/%d %s done\n", k, v->stage_count, job_view_stage_name(v, k));
    if (upto - 1 > b->last_stage)
        b->last_stage = upto - 1;
}

static void bar_plain(struct bar *b, const struct job_view *v)
{
    int decile = (int)(v->progress * 10.0);

    if (strcmp(v->state, b->last_state) == 0 &&
        (strcmp(v->state, "running") != 0 ||
         (v->stage == b->last_stage && decile == b->last_decile)))
        return;
    if (strcmp(v->state, "running") == 0)
        bar_plain_skipped(b, v, v->stage);
    snprintf(b->last_state, sizeof(b->last_state), "%s", v->state);
    b->last_stage = v->stage;
    b->last_decile = decile;
    if (strcmp(v->state, "running") == 0)
        fprintf(b->out, "stage %d/%d %s %3d%%%s%s\n", v->stage, v->stage_count, v->stage_name,
                (int)(v->progress * 100.0), v->message[0] ? "  " : "", v->message);
    else
        fprintf(b->out, "%s\n", v->state);
    fflush(b->out);
}

void bar_update(struct bar *b, const struct job_view *v, int64_t now_ms)
{
    if (b->t0_ms == 0)
        b->t0_ms = now_ms;
    if (b->is_tty) {
        b->last = *v;
        b->last_ms = now_ms;
        bar_draw(b, v, now_ms, now_ms);
    } else {
        bar_plain(b, v);
    }
}

void bar_tick(struct bar *b, int64_t now_ms)
{
    if (b->is_tty && b->has_line && b->last_ms != 0)
        bar_draw(b, &b->last, b->last_ms, now_ms);
}

void bar_finish(struct bar *b, const struct job_view *v, int64_t now_ms)
{
    char elapsed[32];

    bar_format_duration(now_ms - (b->t0_ms ? b->t0_ms : now_ms), elapsed, sizeof(elapsed));
    if (b->is_tty && b->has_line)
        fprintf(b->out, "\r\033[K");
    if (!b->is_tty && strcmp(v->state, "succeeded") == 0)
        bar_plain_skipped(b, v, v->stage_count + 1);
    else if (!b->is_tty && strcmp(v->state, "failed") == 0)
        bar_plain_skipped(b, v, v->stage);
    if (strcmp(v->state, "failed") == 0)
        fprintf(b->out, "failed at stage %d/%d %s after %s: %s%s%s\n", v->stage, v->stage_count,
                v->err_stage[0] ? v->err_stage : v->stage_name, elapsed,
                v->err_code[0] ? v->err_code : "error", v->err_msg[0] ? ": " : "", v->err_msg);
    else
        fprintf(b->out, "%s after %s (stage %d/%d %s)\n", v->state, elapsed, v->stage,
                v->stage_count, v->stage_name);
    fflush(b->out);
    b->has_line = false;
}
