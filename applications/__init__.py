"""keras_aw.applications: ResNet and MobileNet builders in every Table 1 variant."""
