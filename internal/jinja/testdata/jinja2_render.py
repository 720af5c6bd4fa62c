"""Renders templates with Jinja2, for the differential test (jinja2_test.go).

Reads a JSON list of {"template": str, "context": dict, "missing_as_empty": bool} on stdin
and writes a JSON list of {"output": str} or {"error": str}, in the same order, on stdout.
With --lines, reads one such object per line and writes each result on a line as soon as
it is rendered (for FuzzJinja2).
The environment is configured as the library's sandbox is: missing variables are errors
(unless missing_as_empty), no autoescaping, one trailing newline removed, and the
loopcontrols ({% break %}, {% continue %}) and do extensions on.
"""

import json
import sys

import jinja2


def environment(missing_as_empty):
    return jinja2.Environment(
        undefined=jinja2.Undefined if missing_as_empty else jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"],
    )


def render(envs, case):
    env = envs[bool(case.get("missing_as_empty"))]
    try:
        return {"output": env.from_string(case["template"]).render(case["context"])}
    except Exception as e:  # every failure is a result to compare
        return {"error": "%s: %s" % (type(e).__name__, e)}


def main():
    envs = {flag: environment(flag) for flag in (False, True)}
    if "--lines" in sys.argv:
        for line in sys.stdin:
            print(json.dumps(render(envs, json.loads(line))), flush=True)
        return
    json.dump([render(envs, case) for case in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    print("jinja2", jinja2.__version__, file=sys.stderr)
    main()
