#!/usr/bin/env python3
"""Submit a "train" job and watch it to the end with the stageq Python client
(clients/python): the front end's side, without a polling loop. Each status
change the API streams (Server-Sent Events, reconnected by the client if the
connection drops) prints one line "state<TAB>stage<TAB>progress<TAB>message";
at the end the job's result (or error) is printed as JSON.

Usage: client.py [--url http://127.0.0.1:8080] [--token TOKEN] [--rows N]
                 [--seed S] [--epochs E] [--id JOB_ID] [--timeout 600]
Exit 0 when the job succeeded, 1 when it failed or was canceled, 2 on an API
error (the API's code and message are printed), 3 on timeout.
"""
import argparse
import json
import os
import sys

try:
    from stageq import Client, StageqError
except ImportError:  # not installed: the package of this repository
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "clients", "python"))
    from stageq import Client, StageqError


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("STAGEQ_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--token", default=os.environ.get("STAGEQ_API_TOKEN"))
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--id", help="your own job id (makes a retried submit safe)")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()

    client = Client(a.url, token=a.token)
    try:
        job = client.submit("train", {"rows": a.rows, "seed": a.seed, "train": {"epochs": a.epochs}},
                            id=a.id)
        print("submitted %s" % job["id"], flush=True)
        st = None
        for st in client.events(job["id"], timeout=a.timeout):
            print("%s\t%s\t%s\t%s" % (st["state"], st.get("stage_name") or "-",
                                      st.get("progress"), st.get("message") or ""), flush=True)
    except StageqError as e:
        print("client: %s" % e, file=sys.stderr)
        return 2
    except TimeoutError as e:
        print("client: %s" % e, file=sys.stderr)
        return 3
    if st["state"] == "succeeded":
        print(json.dumps(st["result"]))
        return 0
    print(json.dumps(st["error"]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
