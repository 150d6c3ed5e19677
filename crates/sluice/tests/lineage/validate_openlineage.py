"""Validates OpenLineage events (one JSON object per line of the file given) against the
vendored spec: the RunEvent schema, and each facet against the schema its `_schemaURL`
names. Prints `ok N` or one line per problem and exits 1."""

import json
import pathlib
import re
import sys
import uuid
from datetime import datetime

import jsonschema
from referencing import Registry, Resource

SPEC = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "openlineage-spec"


def registry():
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def main(path):
    reg = registry()
    main_schema = json.loads((SPEC / "OpenLineage.json").read_text())
    checker = jsonschema.FormatChecker()
    event_validator = jsonschema.Draft202012Validator(
        {"$ref": main_schema["$id"] + "#/$defs/RunEvent"}, registry=reg, format_checker=checker
    )
    problems = []
    n = 0

    def facets_of(where, facets):
        for name, facet in (facets or {}).items():
            url = facet.get("_schemaURL", "")
            base, _, pointer = url.partition("#")
            if not base.startswith("https://openlineage.io/spec/facets/"):
                problems.append(f"{where}.{name}: not a standard facet: {url}")
                continue
            try:
                v = jsonschema.Draft202012Validator(
                    {"$ref": url}, registry=reg, format_checker=checker
                )
                for e in v.iter_errors(facet):
                    problems.append(f"{where}.{name}: {e.message} at {list(e.absolute_path)}")
            except Exception as e:  # an unknown schema URL
                problems.append(f"{where}.{name}: {e}")

    for line_no, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        n += 1
        event = json.loads(line)
        where = f"line {line_no} ({event.get('eventType')} {event.get('job', {}).get('name')})"
        for e in event_validator.iter_errors(event):
            problems.append(f"{where}: {e.message} at {list(e.absolute_path)}")
        # Formats the validator may not check without optional packages.
        try:
            uuid.UUID(event["run"]["runId"])
            datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        except (KeyError, ValueError) as e:
            problems.append(f"{where}: bad runId or eventTime: {e!r}")
        if not re.match(r"^[a-z][a-z0-9+.-]*:", event.get("producer", "")):
            problems.append(f"{where}: producer is not a URI")
        facets_of(f"{where} run", event["run"].get("facets"))
        facets_of(f"{where} job", event["job"].get("facets"))
        for kind in ("inputs", "outputs"):
            for d in event.get(kind, []):
                facets_of(f"{where} {kind} {d['name']}", d.get("facets"))
                facets_of(f"{where} {kind} {d['name']}", d.get("inputFacets"))
                facets_of(f"{where} {kind} {d['name']}", d.get("outputFacets"))
    for p in problems:
        print(p)
    if problems or n == 0:
        sys.exit(1)
    print(f"ok {n}")


if __name__ == "__main__":
    main(sys.argv[1])
