"""Reads feature flags through the official OpenFeature Python SDK and OFREP provider.

Environment: K12_OFREP_BASE_URL (the API's base URL), K12_OFREP_TOKEN (a session token or
a tenant API key, sent as a bearer header; kept out of argv), K12_OFREP_TENANT (the
caller's tenant id).
Argument: a JSON list of [flag key, code default] pairs. Prints one JSON object: per key
the SDK's resolution details, plus two probes: another tenant's targeting key and none.
"""

import json
import os
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

base = os.environ["K12_OFREP_BASE_URL"]
token = os.environ["K12_OFREP_TOKEN"]
tenant = os.environ["K12_OFREP_TENANT"]

api.set_provider(
    OFREPProvider(base, headers_factory=lambda: {"Authorization": f"Bearer {token}"})
)
client = api.get_client()


def details(key, default, context):
    d = client.get_boolean_details(key, default, context)
    return {
        "value": d.value,
        "reason": getattr(d.reason, "value", d.reason),
        "variant": d.variant,
        "error_code": getattr(d.error_code, "value", d.error_code),
        "metadata": dict(d.flag_metadata or {}),
    }


out = {}
for key, default in json.loads(sys.argv[1]):
    out[key] = details(key, default, EvaluationContext(targeting_key=tenant))
out["__other_tenant"] = details(
    "portfolio_enabled", False, EvaluationContext(targeting_key="999999999")
)
out["__no_targeting_key"] = details("portfolio_enabled", False, EvaluationContext())
print(json.dumps(out))
