"""The official Python Kubernetes client's watch, as an informer uses it:
list, then watch.Watch().stream from the list's resourceVersion. Prints
READY once the list is read, then one line per event: TYPE NAME VALUE.

Usage: python_watch.py KUBECONFIG TIMEOUT_SECONDS
"""
import sys

from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
listed = v1.list_namespaced_config_map("default")
print("READY", listed.metadata.resource_version, flush=True)
stream = watch.Watch().stream(
    v1.list_namespaced_config_map,
    "default",
    resource_version=listed.metadata.resource_version,
    timeout_seconds=int(sys.argv[2]),
)
for event in stream:
    obj = event["object"]
    value = (obj.data or {}).get("k", "")
    print(event["type"], obj.metadata.name, value, flush=True)
