"""Campaign tree and workflow orchestration: campaigns → workflows → services → data streams → attributes.

Modules, each with one job: ``tree`` (CRUD + validation), ``validate`` (attribute rules),
``transform`` (data-stream transformations), ``fetch`` / ``extract`` / ``destinations`` /
``executor`` (a workflow run), ``triggers`` / ``scheduler`` / ``webhook`` / ``filewatch``
(when runs happen), ``suggest`` / ``bundles`` (the model in the tree), ``documents``
(export/import) and ``training_export`` (runs → curated examples).
"""
