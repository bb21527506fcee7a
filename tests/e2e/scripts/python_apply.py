"""The official Python Kubernetes client's server-side apply (its dynamic
client's server_side_apply) of a ConfigMap, as field manager MANAGER.
Prints the applied object's data and its managers as JSON.

Usage: python_apply.py KUBECONFIG NAME MANAGER VALUE
"""
import json
import sys

from kubernetes import config, dynamic
from kubernetes.client import api_client

kubeconfig, name, manager, value = sys.argv[1:5]
client = dynamic.DynamicClient(api_client.ApiClient(configuration=config.load_kube_config(config_file=kubeconfig)))
configmaps = client.resources.get(api_version="v1", kind="ConfigMap")
body = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": name, "namespace": "default"},
    "data": {"k": value},
}
applied = configmaps.server_side_apply(body=body, name=name, namespace="default", field_manager=manager)
managers = [m["manager"] + ":" + m["operation"] for m in applied.metadata.managedFields]
print(json.dumps({"data": dict(applied.data), "managers": managers}), flush=True)
