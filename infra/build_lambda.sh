#!/usr/bin/env bash
# Builds infra/build/lambda/, the code of the Lambda functions (CodeUri in infra/template.yaml):
# the whisperq and functions packages plus infra/lambda-requirements.txt, as wheels for the Lambda
# runtime (Python 3.11 on arm64), whatever machine this runs on. Then:
#   sam deploy --guided --template-file infra/template.yaml
# LAMBDA_PLATFORM=manylinux2014_x86_64 builds for x86_64 (change Architectures in the template too).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/infra/build/lambda"
python="${PYTHON:-python3}"
platform="${LAMBDA_PLATFORM:-manylinux2014_aarch64}"

rm -rf "$out"
mkdir -p "$out"
"$python" -m pip install --quiet --disable-pip-version-check --target "$out" \
  --implementation cp --python-version 3.11 --platform "$platform" --only-binary=:all: \
  -r "$root/infra/lambda-requirements.txt"
for package in whisperq functions; do
  cp -R "$root/$package" "$out/$package"
done
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +
echo "built $out ($(du -sh "$out" | cut -f1)) for $platform"
