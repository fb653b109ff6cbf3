"""The bare encoder as a task: what export_savedmodel.py --task=encoder serves (sequence and
pooled outputs); it has no loss, so it is never trained."""


class EncoderTask:
    name = "encoder"
    needs_num_labels = False

    def __init__(self, bert_config):
        self.bert_config = bert_config

    def create_model(self, params=None):
        from bert_tf.heads import BertModel
        return BertModel(self.bert_config).build_for()

    @staticmethod
    def serving_outputs(model, features):
        out = model(features, training=False)
        return {"sequence_output": out["sequence_output"], "pooled_output": out["pooled_output"]}
