/* health: liveness (/healthz, answered without Redis) and readiness (/readyz,
 * a PING through rasync). Never blocks and never caches Redis' state. */
#include "api.h"

#include <string.h>

#include "log.h"

void health_live(struct api_req *ar)
{
    static const char body[] = "{\"status\":\"ok\"}";

    reply_raw(ar, 200, body, sizeof(body) - 1);
}

static void health_ready_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    static const char body[] = "{\"status\":\"ready\",\"redis\":\"ok\"}";
    struct api_req *ar = arg;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        log_warnx("redis: PING failed: %.*s", (int)reply->len, reply->str);
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis answered PING with an error");
        return;
    }
    reply_raw(ar, 200, body, sizeof(body) - 1);
}

void health_ready(struct api_req *ar)
{
    struct rargv args;
    int rc;

    rargv_init(&args);
    rargv_add(&args, "PING");
    rc = rasync_command(ar->api->rasync, &args, health_ready_done, ar);
    rargv_free(&args);
    if (rc < 0)
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
}
