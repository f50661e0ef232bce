"""The datapic pod runtime: copied unchanged into every pod; the pod's query lives in pod.json."""
