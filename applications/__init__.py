"""keras_aw.applications: ResNet and MobileNet builders in every Table 1 variant.

Every named builder has keras.applications' signature (`weights` defaults to
None: no ImageNet weights exist for AW networks) and is registered in
`keras_aw.registry` (``keras_aw.list_models()``). Each family module declares
its named networks as a table (`resnet.MODELS`, `mobilenet.MODELS`,
`small_cnn.MODELS`) over one generic builder (`ResNet`, `MobileNetV1`,
`SmallCNN`). The modules `resnet` and `mobilenet` also expose
`preprocess_input` and `decode_predictions`; `small_cnn` holds the small
demonstration networks. `builder_utils` is the families' private helper module.
"""

# Import order is the registry's family order: ResNets, MobileNet, small CNNs.
from keras_aw.applications import imagenet_utils, resnet, mobilenet, small_cnn  # noqa: I001
from keras_aw.applications.mobilenet import (
    AWCBAMMobileNet,
    AWMobileNet,
    AWSEMobileNet,
    CBAMMobileNet,
    MobileNet,
    MobileNetV1,
    SEMobileNet,
)
from keras_aw.applications.resnet import (
    AWCBAMResNet50,
    AWCBAMResNet101,
    AWCBAMResNet152,
    AWResNet50,
    AWResNet101,
    AWResNet152,
    AWSEResNet50,
    AWSEResNet101,
    AWSEResNet152,
    CBAMResNet50,
    CBAMResNet101,
    CBAMResNet152,
    ResNet,
    ResNet50,
    ResNet101,
    ResNet152,
    SEResNet50,
    SEResNet101,
    SEResNet152,
)
from keras_aw.applications.small_cnn import AWSmallCNN, SmallCNN

__all__ = [
    "AWCBAMMobileNet", "AWCBAMResNet101", "AWCBAMResNet152", "AWCBAMResNet50",
    "AWMobileNet", "AWSmallCNN", "SmallCNN", "small_cnn", "AWResNet101", "AWResNet152", "AWResNet50", "AWSEMobileNet",
    "AWSEResNet101", "AWSEResNet152", "AWSEResNet50", "CBAMMobileNet",
    "CBAMResNet101", "CBAMResNet152", "CBAMResNet50", "MobileNet", "MobileNetV1",
    "ResNet", "ResNet101", "ResNet152", "ResNet50", "SEMobileNet", "SEResNet101",
    "SEResNet152", "SEResNet50", "imagenet_utils", "mobilenet", "resnet",
]


def __dir__():
    return sorted(__all__)
