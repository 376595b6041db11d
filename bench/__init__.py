"""The benchmark: a large synthetic Unleash instance, and the pipeline's figures against their floors."""
