"""The system's configuration: settings (config/settings.yaml + environment), YAML file reading, endpoints by mode."""
