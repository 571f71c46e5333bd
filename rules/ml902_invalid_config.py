from modellint.rule import EngineRule, flag, ok


class InvalidConfig(EngineRule):
    code = "ML902"
    name = "invalid-config"
    severity = "error"
    summary = "A YAML, JSON or TOML config cannot be parsed, or repeats a key."
    rationale = (
        "A config that does not parse stops the run at start-up at best; a YAML mapping that repeats a "
        "key is worse: PyYAML silently keeps the last value, so the setting you read near the top is not "
        "the one training uses. Binary or non-UTF-8 files with a config name land here too."
    )
    fix = "Fix the syntax at the reported line and column; remove the duplicated key."
    examples = (
        flag("configs/train.yaml", """
            optimizer:
              lr: 0.001
               momentum: 0.9
            """, line=3, title="bad indentation"),
        flag("configs/train.yaml", """
            lr: 0.001
            batch_size: 32
            lr: 0.01
            """, line=3, title="duplicate key: PyYAML keeps the last one"),
        flag("configs/ds.json", """
            {"train_batch_size": 32,
             "gradient_clipping": 1.0,}
            """, line=2),
        ok("configs/train.yaml", """
            defaults: &defaults
              lr: 0.001
            finetune:
              <<: *defaults
              lr: 0.0001
            include: !include base.yaml
            """, title="merge keys and unknown tags are fine"),
        ok(".devcontainer/devcontainer.json", """
            {
              // JSON with comments, as VS Code writes it
              "name": "train-env", /* base image */
              "features": {},
            }
            """, title="JSON with comments (devcontainer.json, tsconfig.json) is read as such"),
    )
