"""datapic: compile a YAML query spec over an Iceberg table into a deployable data pod."""

__version__ = "0.1.0"
