from modellint.rule import EngineRule, flag, ok


class UnresolvedConfigReference(EngineRule):
    code = "ML903"
    name = "unresolved-config-reference"
    severity = "warning"
    summary = "An inherited config (_BASE_, _base_, Hydra default) or the config a launch script trains cannot be found."
    rationale = (
        "Every cross-file check (LR scaling against the base batch, warmup, clipping inherited from a base) "
        "needs the whole inheritance chain. A base that does not resolve means the framework will fail at "
        "start-up, or, if the path only works from another working directory, that modellint cannot see "
        "the values the run really uses. A base that resolves outside the linted tree is not read "
        "(modellint never reads outside the roots it was given), and an inheritance cycle is reported here too. "
        "A Hydra default that names no file is not reported: it may be a Structured Config registered in Python "
        "(ConfigStore) or come from a plugin's search path, which a static reader cannot see."
    )
    fix = "Fix the path (bases resolve relative to the config that names them; launch configs relative to the repository root)."
    examples = (
        flag("configs/retina.yaml", """
            _BASE_: "../Base-RetinaNet.yaml"
            SOLVER:
              BASE_LR: 0.01
            """, line=1, title="missing detectron2 base"),
        flag({"configs/faster.py": """
            _base_ = ['./_base_/models/faster_rcnn.py', './_base_/schedule_1x.py']
            optim_wrapper = dict(optimizer=dict(lr=0.01))
            """, "configs/_base_/models/faster_rcnn.py": "model = dict(type='FasterRCNN')\n"},
             at="configs/faster.py", line=1, title="one of two MMEngine bases is missing"),
        flag({"scripts/train.sh": """
            python train_net.py --config-file configs/missing.yaml --num-gpus 8
            """, "README.md": "demo\n"}, at="scripts/train.sh", line=1, title="launch script names a missing config"),
        flag({"configs/a.yaml": "_BASE_: b.yaml\nSOLVER: {BASE_LR: 0.01}\n",
              "configs/b.yaml": "_BASE_: a.yaml\nSOLVER: {IMS_PER_BATCH: 16}\n"}, at="configs/a.yaml", title="inheritance cycle"),
        ok({"configs/retina.yaml": """
            _BASE_: "../Base-RetinaNet.yaml"
            SOLVER:
              BASE_LR: 0.01
            """, "Base-RetinaNet.yaml": "SOLVER:\n  IMS_PER_BATCH: 16\n"}),
        ok("configs/det.py", """
            _base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
            """, title="package references (mmdet::) name installed configs"),
        ok({"conf/config.yaml": """
            defaults:
              - model: resnet
              - override hydra/launcher: joblib
              - _self_
            lr: 0.1
            """, "conf/model/resnet.yaml": "depth: 50\n"}, title="Hydra defaults resolve into group folders"),
        ok("conf/config.yaml", """
            defaults:
              - base_config
              - db: ${db_kind}
              - /schema/base_mysql@_here_
            """, title="Hydra Structured Configs and run-time choices are not files"),
    )
