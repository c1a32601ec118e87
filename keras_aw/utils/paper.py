"""Table 1 of Zhu et al., ICANN 2021 (ImageNet, 224x224), as the paper prints it (SPEC §4).

Each row: (model as the paper names it, keras_aw builder, builder kwargs, top-1 error,
top-5 error, GFLOPs, trainable parameters in millions). The error columns are the paper's
claims; keras_aw does not re-measure them.
"""

TABLE1 = [
    ("ResNet50", "ResNet50", {}, "24.56%", "7.50%", 3.86, 25.56),
    ("AW-ResNet50", "AWResNet50", {}, "23.38%", "6.79%", 3.87, 25.72),
    ("SE-ResNet50", "SEResNet50", {}, "23.14%", "6.70%", 3.87, 28.09),
    ("AW-SE-ResNet50", "AWSEResNet50", {}, "22.72%", "6.47%", 3.88, 28.25),
    ("AW-CBAM-ResNet50 (MaxPool)", "AWCBAMResNet50", {"cbam": "maxpool"},
     "22.82%", "6.41%", 3.89, 28.25),
    ("AW-CBAM-ResNet50 (Spatial)", "AWCBAMResNet50", {"cbam": "spatial"},
     "23.20%", "6.58%", 3.90, 28.25),
    ("ResNet101", "ResNet101", {}, "23.38%", "–", 7.57, 44.55),
    ("AW-ResNet101", "AWResNet101", {}, "22.38%", "6.21%", 7.58, 44.95),
    ("SE-ResNet101", "SEResNet101", {}, "22.35%", "6.19%", 7.58, 49.33),
    ("AW-SE-ResNet101", "AWSEResNet101", {}, "21.78%", "5.74%", 7.59, 49.73),
    ("AW-CBAM-ResNet101 (MaxPool)", "AWCBAMResNet101", {"cbam": "maxpool"},
     "21.64%", "5.76%", 7.60, 49.73),
    ("AW-CBAM-ResNet101 (Spatial)", "AWCBAMResNet101", {"cbam": "spatial"},
     "22.32%", "6.18%", 7.61, 49.73),
    ("MobileNet", "MobileNet", {}, "31.39%", "11.51%", 0.569, 4.23),
    ("SE-MobileNet", "SEMobileNet", {}, "29.97%", "10.63%", 0.581, 5.07),
    ("AW-SE-MobileNet", "AWSEMobileNet", {}, "29.41%", "10.59%", 0.623, 5.52),
    ("CBAM-MobileNet", "CBAMMobileNet", {"cbam": "full"}, "29.01%", "9.99%", 0.611, 5.07),
    ("AW-CBAM-MobileNet (Spatial)", "AWCBAMMobileNet", {"cbam": "spatial"},
     "28.82%", "9.98%", 0.652, 5.52),
]
