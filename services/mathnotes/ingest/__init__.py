"""The ingest service: device telemetry over MQTT and HTTP into InfluxDB."""
