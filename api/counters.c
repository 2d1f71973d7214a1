/* counters: this process's HTTP figures, counted as each request ends
 * (reply_req_end): requests by route, method and status, and the latency
 * histogram by route. metrics.c renders them; nothing else reads them. Never
 * touches Redis. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

const struct counters_le counters_http_le[COUNTERS_NHTTP_LE] = {
    {1000, "0.001"},  {2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"}, {25000, "0.025"},
    {50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"}, {500000, "0.5"}, {1000000, "1"},
    {2500000, "2.5"}, {5000000, "5"},   {10000000, "10"}, {-1, "+Inf"},
};

struct counters *counters_new(void)
{
    return calloc(1, sizeof(struct counters));
}

void counters_free(struct counters *c)
{
    if (c == NULL)
        return;
    free(c->reqs);
    free(c->lats);
    free(c);
}

void counters_note(struct counters *c, const char *route, const char *method, int status,
                   long long duration_us)
{
    struct counters_reqs *r = NULL;
    struct counters_lat *l = NULL;
    size_t i;

    if (c == NULL)
        return;
    /* a few dozen series at most: routes x methods x statuses actually seen */
    for (i = 0; i < c->nreqs && r == NULL; i++)
        if (c->reqs[i].status == status && strcmp(c->reqs[i].route, route) == 0 &&
            strcmp(c->reqs[i].method, method) == 0)
            r = &c->reqs[i];
    if (r == NULL && api_grow((void **)&c->reqs, &c->capreqs, c->nreqs, sizeof(*r)) == 0) {
        r = &c->reqs[c->nreqs++];
        r->route = route;
        r->method = method;
        r->status = status;
        r->n = 0;
    }
    if (r != NULL)
        r->n++;
    for (i = 0; i < c->nlats && l == NULL; i++)
        if (strcmp(c->lats[i].route, route) == 0)
            l = &c->lats[i];
    if (l == NULL && api_grow((void **)&c->lats, &c->caplats, c->nlats, sizeof(*l)) == 0) {
        l = &c->lats[c->nlats++];
        memset(l, 0, sizeof(*l));
        l->route = route;
    }
    if (l == NULL)
        return;
    if (duration_us < 0)
        duration_us = 0;
    for (i = 0; i + 1 < COUNTERS_NHTTP_LE && duration_us > counters_http_le[i].us; i++)
        ;
    l->buckets[i]++;
    l->sum_us += duration_us;
}
