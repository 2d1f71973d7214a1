#!/usr/bin/env python3
"""check.py: checks docs/openapi.yaml, by itself and against real responses.

  check.py spec SPEC               the document is valid OpenAPI 3.1
  check.py coverage SPEC ROUTES_C  the route table of api/routes.c and the
                                   document's paths name the same operations
  check.py responses SPEC DIR      every response recorded in DIR (by
                                   tests/e2e/test_openapi.sh) is documented

Prints one "ok - ..." or "not ok - ..." line per check (counted by
tests/run-all.sh) and exits 1 when any failed. Uses openapi_spec_validator and
openapi_schema_validator when installed, else jsonschema alone (Debian 12 has
python3-jsonschema but not the other two) with the OpenAPI 3.1 meta-schema
vendored beside this file (oas-3.1-schema.json, from the OpenAPI
Initiative, Apache-2.0).
"""
import glob
import json
import os
import re
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Operations documented before the code that serves them lands (the metrics
# are added in parallel): absent from routes.c, they are
# reported as skipped, not failed. Once in the table they are checked fully.
PENDING = {("GET", "/metrics")}

FAILS = 0


def ok(name):
    print("ok - " + name, flush=True)


def not_ok(name):
    global FAILS
    FAILS += 1
    print("not ok - " + name, flush=True)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def one_line(text, cap=400):
    text = " ".join(str(text).split())
    return text if len(text) <= cap else text[: cap - 3] + "..."


# ---- the document --------------------------------------------------------


def resolve(spec, obj):
    """Follows a local $ref chain ("#/a/b") to the object it names."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj and len(obj) <= 3:
        ref = obj["$ref"]
        if not ref.startswith("#/"):
            raise KeyError("not a local $ref: " + ref)
        obj = spec
        for part in ref[2:].split("/"):
            obj = obj[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 20:
            raise KeyError("$ref loop at " + ref)
    return obj


def all_refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.add(v)
            else:
                all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


# Every keyword a Schema Object of OpenAPI 3.1 may hold: JSON Schema 2020-12's
# (core, applicator, unevaluated, validation, meta-data, format, content) and
# OpenAPI's own; "x-" extensions besides. The meta-schema cannot catch a stray
# key here (a 2020-12 schema allows unknown keywords), yet one is always a
# mistake, such as the comma of a flow mapping splitting a description:
# {description: stage 1's input, any JSON} is a key "any JSON".
SCHEMA_KEYWORDS = {
    "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$comment", "$defs",
    "prefixItems", "items", "contains", "additionalProperties", "properties",
    "patternProperties", "dependentSchemas", "propertyNames", "if", "then", "else", "allOf",
    "anyOf", "oneOf", "not", "unevaluatedItems", "unevaluatedProperties",
    "type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired",
    "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
    "format", "contentEncoding", "contentMediaType", "contentSchema",
    "discriminator", "xml", "externalDocs", "example",
}
SUBSCHEMA_ONE = ("items", "contains", "additionalProperties", "propertyNames", "if", "then",
                 "else", "not", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
SUBSCHEMA_LIST = ("prefixItems", "allOf", "anyOf", "oneOf")
SUBSCHEMA_MAP = ("properties", "patternProperties", "dependentSchemas", "$defs")


def schema_strays(node, where, out):
    """Appends to out a line per key of schema node (and its subschemas) that
    is not a keyword."""
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        out.append("%s is not a schema" % where)
        return
    for k in node:
        if k not in SCHEMA_KEYWORDS and not k.startswith("x-"):
            out.append("%s: %r is not a keyword" % (where, k))
    for k in SUBSCHEMA_ONE:
        if k in node:
            schema_strays(node[k], where + "/" + k, out)
    for k in SUBSCHEMA_LIST:
        for i, sub in enumerate(node.get(k) or []):
            schema_strays(sub, "%s/%s/%d" % (where, k, i), out)
    for k in SUBSCHEMA_MAP:
        for name, sub in (node.get(k) or {}).items():
            schema_strays(sub, "%s/%s/%s" % (where, k, name), out)


def document_strays(node, where, out):
    """Finds the schemas of the document (components/schemas, every "schema"
    of a parameter, header or media type, our x-sse-events) and checks each."""
    if isinstance(node, list):
        for i, v in enumerate(node):
            document_strays(v, "%s/%d" % (where, i), out)
        return
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        here = where + "/" + str(k)
        if k == "schema" or (where == "#/components" and k == "schemas") or k == "x-sse-events":
            subs = v.items() if k != "schema" and isinstance(v, dict) else [(None, v)]
            for name, sub in subs:
                schema_strays(sub, here if name is None else here + "/" + name, out)
        elif k not in ("example", "examples"):
            document_strays(v, here, out)


def cmd_spec(spec_path):
    spec = load(spec_path)
    try:
        from openapi_spec_validator import validate

        how = "openapi_spec_validator"
        try:
            validate(spec)
            err = None
        except Exception as e:  # the validator's error classes vary by version
            err = e
    except ImportError:
        how = "jsonschema + the OpenAPI 3.1 meta-schema"
        with open(os.path.join(HERE, "oas-3.1-schema.json"), encoding="utf-8") as f:
            meta = json.load(f)
        errs = sorted(jsonschema.Draft202012Validator(meta).iter_errors(spec), key=str)
        err = errs[0] if errs else None
    if err is None:
        ok("%s is valid OpenAPI %s (%s)" % (spec_path, spec.get("openapi"), how))
    else:
        not_ok("%s is valid OpenAPI (%s): %s" % (spec_path, how, one_line(err)))

    bad = []
    for ref in sorted(all_refs(spec, set())):
        try:
            resolve(spec, {"$ref": ref})
        except (KeyError, TypeError) as e:
            bad.append("%s (%s)" % (ref, e))
    if bad:
        not_ok("every $ref resolves: " + one_line("; ".join(bad)))
    else:
        ok("every $ref of %s resolves" % spec_path)

    bad = []
    document_strays(spec, "#", bad)
    if bad:
        not_ok("every schema holds keywords only: " + one_line("; ".join(bad), 1000))
    else:
        ok("every schema of %s holds keywords only (no stray key)" % spec_path)

    bad = []
    for path, item in spec.get("paths", {}).items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for m in METHODS:
            if m not in item:
                continue
            params = [resolve(spec, p) for p in item.get("parameters", []) + item[m].get("parameters", [])]
            have = {p["name"] for p in params if p.get("in") == "path"}
            if have != names:
                bad.append("%s %s declares %s" % (m.upper(), path, sorted(have)))
            if not item[m].get("responses"):
                bad.append("%s %s has no responses" % (m.upper(), path))
    if bad:
        not_ok("path parameters are declared: " + one_line("; ".join(bad)))
    else:
        ok("every path template's parameters are declared, every operation has responses")


# ---- coverage: the route table ------------------------------------------


def norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


def cmd_coverage(spec_path, routes_c):
    spec = load(spec_path)
    with open(routes_c, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"routes_table\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if m is None:
        not_ok("the route table is found in " + routes_c)
        return
    table = set()
    for meth, path in re.findall(r"\{\s*EVHTTP_REQ_([A-Z]+)\s*,\s*\"([^\"]+)\"", m.group(1)):
        table.add((meth, norm(path)))
    if not table:
        not_ok("the route table of %s has routes" % routes_c)
        return
    documented = {}
    for path, item in spec.get("paths", {}).items():
        for meth in METHODS:
            if meth in item:
                documented[(meth.upper(), norm(path))] = path
    for meth, path in sorted(table):
        if (meth, path) in documented:
            ok("routes.c %s %s is documented in openapi.yaml" % (meth, documented[(meth, path)]))
        else:
            not_ok("routes.c %s %s is documented in openapi.yaml" % (meth, path))
    for (meth, path), shown in sorted(documented.items()):
        if (meth, path) in table:
            continue
        if (meth, path) in PENDING:
            ok("openapi.yaml %s %s is in routes.c # SKIP not served by this build yet" % (meth, shown))
        else:
            not_ok("openapi.yaml %s %s is in routes.c's table" % (meth, shown))


# ---- responses -------------------------------------------------------------


def make_validator(spec, schema):
    """A validator for schema whose local $refs resolve in spec: the schema's
    keywords are laid over the document (whose own top-level members are not
    JSON Schema keywords), so "#/components/..." points into it."""
    root = dict(spec)
    root.update(schema)
    try:
        from openapi_schema_validator import OAS31Validator

        return OAS31Validator(root)
    except ImportError:
        return jsonschema.Draft202012Validator(root)


def schema_errors(spec, schema, value):
    errs = sorted(make_validator(spec, schema).iter_errors(value), key=lambda e: list(e.path))
    out = []
    for e in errs[:3]:
        where = "/".join(str(p) for p in e.absolute_path) or "(body)"
        out.append("at %s: %s" % (where, e.message))
    return out


def parse_headers(path):
    """The last header block curl -D wrote (after any 100 Continue)."""
    with open(path, encoding="latin-1") as f:
        raw = f.read()
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw) if b.strip()]
    if not blocks:
        return None, {}
    lines = blocks[-1].splitlines()
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], headers


def match_path(spec, concrete):
    for templ in spec.get("paths", {}):
        rx = "^" + "".join(
            "[^/]+" if re.fullmatch(r"\{[^}]+\}", part) else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", templ)
        ) + "$"
        if re.match(rx, concrete):
            return templ
    return None


def media_base(ct):
    return ct.split(";", 1)[0].strip().lower()


def parse_sse(body):
    """Events of a text/event-stream body: (event, data) for each block with
    data; comments are skipped. A last block cut off by the client's timeout
    is ignored."""
    events = []
    blocks = body.replace("\r\n", "\n").split("\n\n")
    for block in blocks[:-1]:
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def check_headers(spec, resp, headers, problems):
    for name, h in (resp.get("headers") or {}).items():
        h = resolve(spec, h)
        vals = headers.get(name.lower())
        if not vals:
            if h.get("required"):
                problems.append("header %s missing" % name)
            continue
        errs = schema_errors(spec, h.get("schema", {}), vals[-1])
        if errs:
            problems.append("header %s: %r: %s" % (name, vals[-1], errs[0]))


def check_body(spec, resp, headers, body, meta, problems, notes):
    content = resp.get("content") or {}
    ct = (headers.get("content-type") or [""])[-1]
    if meta["method"] == "HEAD":
        return  # no body (curl --head does not read one); the headers are checked
    if not content:
        if body:
            problems.append("a body where none is documented")
        if ct:
            problems.append("Content-Type %s where no body is documented" % ct)
        return
    base = media_base(ct)
    if base not in content:
        problems.append("Content-Type %r is not one of %s" % (ct, sorted(content)))
        return
    media = content[base]
    schema = media.get("schema")
    if base == "application/json":
        try:
            value = json.loads(body)
        except ValueError as e:
            problems.append("body is not JSON (%s): %r" % (e, body[:120]))
            return
        if schema is not None:
            problems.extend(schema_errors(spec, schema, value))
    elif base == "text/event-stream":
        events = parse_sse(body)
        kinds = media.get("x-sse-events", {})
        counts = {}
        for name, data in events:
            counts[name] = counts.get(name, 0) + 1
            if name not in kinds:
                problems.append("undocumented event %r" % name)
                continue
            try:
                value = json.loads(data)
            except ValueError:
                problems.append("event %s: data is not JSON: %r" % (name, data[:120]))
                continue
            for e in schema_errors(spec, kinds[name], value):
                problems.append("event %s: %s" % (name, e))
        want = meta.get("sse") or {}
        for name, least in want.items():
            if counts.get(name, 0) < least:
                problems.append("%d %s event(s), expected at least %d" % (counts.get(name, 0), name, least))
        notes.append(", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())) or "no events")
    elif base == "text/plain" and meta["path"].startswith("/metrics"):
        for line in body.splitlines():
            if line and not line.startswith("#") and not re.match(
                r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf)|NaN)( -?[0-9]+)?$", line
            ):
                problems.append("not a Prometheus sample line: %r" % line[:120])
                break


def check_request(spec, op, meta, status, resp_body, problems):
    """The documented request schema must agree with the server: a request it
    accepted (2xx) validates; one it refused as invalid (422, or 400
    invalid_id/invalid_request about the body) does not."""
    rb = resolve(spec, op.get("requestBody") or {})
    media = (rb.get("content") or {}).get("application/json")
    if media is None or "schema" not in media:
        return
    try:
        req = json.loads(meta["request"])
    except ValueError:
        if status.startswith("2"):
            problems.append("accepted a request body that is not JSON")
        return
    errs = schema_errors(spec, media["schema"], req)
    try:
        code = json.loads(resp_body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    # unknown_pipeline depends on the pipelines file, not on the schema; a
    # 400 with a query string may be about the query
    refused = code in ("missing_field", "invalid_field", "unknown_field") or (
        code in ("invalid_id", "invalid_request") and "?" not in meta["path"]
        and "{" not in match_path(spec, meta["path"].split("?", 1)[0]))
    if status.startswith("2") and errs:
        problems.append("the server accepted a request the schema refuses: " + errs[0])
    elif refused and not errs:
        problems.append("the server refused a request the schema accepts: %s" % one_line(meta["request"], 120))


def check_one(spec, meta_path, provoked):
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    stem = meta_path[: -len(".json")]
    method, full, status = meta["method"], meta["path"], str(meta["status"])
    path = full.split("?", 1)[0]
    label = "%s %s -> %s (%s)" % (method, full if len(full) < 80 else full[:77] + "...", status, meta["name"])
    problems, notes = [], []
    if str(meta["expect"]) != status:
        problems.append("expected status %s" % meta["expect"])
    _, headers = parse_headers(stem + ".headers")
    with open(stem + ".body", encoding="utf-8", errors="replace") as f:
        body = f.read()

    templ = match_path(spec, path)
    item = spec["paths"].get(templ, {}) if templ else {}
    op_method = "get" if method == "HEAD" and "get" in item else method.lower()
    op = item.get(op_method) if op_method in METHODS else None
    comps = spec["components"]["responses"]
    if op_method not in METHODS + ("connect",):  # a token libevent does not know
        resp = comps["NotImplemented"] if status == "501" else None
        if resp is None:
            problems.append("the unknown method %s answered %s, not 501" % (method, status))
    elif op is not None:
        resp = op["responses"].get(status)
        if resp is None:
            problems.append("status %s is not documented for %s %s (documented: %s)"
                            % (status, op_method.upper(), templ, ", ".join(sorted(op["responses"]))))
        else:
            provoked.add((op_method.upper(), templ, status))
    elif templ is None:  # no such path: only the routing step answers
        resp = {"404": comps["NotFound"], "401": comps["Unauthorized"]}.get(status)
        if resp is None:
            problems.append("an unknown path answered %s, not 404 (or 401)" % status)
    else:  # the path exists, the method does not
        allowed = sorted({m.upper() for m in item if m in METHODS} | ({"HEAD"} if "get" in item else set()))
        if status == "405":
            resp = comps["MethodNotAllowed"]
            got = sorted(v.strip() for v in (headers.get("allow") or [""])[-1].split(","))
            if got != allowed:
                problems.append("Allow is %s, the document says %s" % (got, allowed))
        elif status == "204" and method == "OPTIONS":
            resp = comps["Preflight"]
            got = sorted(v.strip() for v in (headers.get("access-control-allow-methods") or [""])[-1].split(","))
            if got != allowed:
                problems.append("Access-Control-Allow-Methods is %s, the document says %s" % (got, allowed))
        elif status == "401":
            resp = comps["Unauthorized"]
        else:
            resp = None
            problems.append("%s on %s answered %s, not 405/401 (or 204 for a preflight)" % (method, templ, status))
    if resp is not None:
        resp = resolve(spec, resp)
    if resp is not None and method == "HEAD" and "text/event-stream" in (resp.get("content") or {}):
        # documented exception: HEAD on a stream answers like a JSON GET
        # (HEAD /v1/jobs/{id}/events as HEAD /v1/jobs/{id}), no stream headers
        ct = (headers.get("content-type") or [""])[-1]
        if media_base(ct) != "application/json":
            problems.append("HEAD on a stream: Content-Type %r, documented application/json" % ct)
        resp = None
    if resp is not None:
        check_headers(spec, resp, headers, problems)
        check_body(spec, resp, headers, body, meta, problems, notes)
    if op is not None and meta.get("request") is not None:
        check_request(spec, op, meta, status, body, problems)
    for name, want in (meta.get("headers") or {}).items():
        got = (headers.get(name.lower()) or [None])[-1]
        if got != want:
            problems.append("header %s is %r, expected %r" % (name, got, want))
    if problems:
        not_ok(label + ": " + one_line("; ".join(problems), 700))
    else:
        ok(label + (" [%s]" % "; ".join(notes) if notes else ""))


def cmd_responses(spec_path, rdir):
    spec = load(spec_path)
    metas = sorted(glob.glob(os.path.join(rdir, "*.json")))
    if not metas:
        not_ok("responses were recorded in " + rdir)
        return
    provoked = set()
    for m in metas:
        try:
            check_one(spec, m, provoked)
        except Exception as e:  # a broken record is a failure, not a crash
            not_ok("%s: %s: %s" % (os.path.basename(m), type(e).__name__, one_line(e)))
    missing = []
    for path, item in spec["paths"].items():
        for meth in METHODS:
            if meth in item:
                for st in item[meth]["responses"]:
                    if (meth.upper(), path, st) not in provoked:
                        missing.append("%s %s %s" % (meth.upper(), path, st))
    print("# %d documented answers provoked; not provoked (e.g. 500, or no route yet): %s"
          % (len(provoked), ", ".join(missing)))


def main(argv):
    if len(argv) == 3 and argv[1] == "spec":
        cmd_spec(argv[2])
    elif len(argv) == 4 and argv[1] == "coverage":
        cmd_coverage(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "responses":
        cmd_responses(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
