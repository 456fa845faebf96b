"""Copy each human task's queue (``process.data["role"]``) onto the task (``task.data["role"]``).

From this version on ``workflow.tasks.open_task`` writes the role on the task too, so that the
inbox filters the task table alone (docs/scale.md); this migration does it for the tasks
opened before. Reversible (the copy is removed).
"""

from django.db import migrations

ACT = "workflow/flows.HumanTaskFlow.act"


def copy_role(apps, schema_editor):
    Task = apps.get_model("viewflow", "Task")
    batch = []
    for task in Task.objects.filter(flow_task=ACT).select_related("process").iterator(chunk_size=2000):
        role = (task.process.data or {}).get("role")
        if (task.data or {}).get("role") != role:
            task.data = {**(task.data or {}), "role": role}
            batch.append(task)
        if len(batch) >= 2000:
            Task.objects.bulk_update(batch, ["data"])
            batch = []
    if batch:
        Task.objects.bulk_update(batch, ["data"])


def remove_role(apps, schema_editor):
    Task = apps.get_model("viewflow", "Task")
    batch = []
    for task in Task.objects.filter(flow_task=ACT).iterator(chunk_size=2000):
        if "role" in (task.data or {}):
            task.data = {k: v for k, v in task.data.items() if k != "role"}
            batch.append(task)
    Task.objects.bulk_update(batch, ["data"], batch_size=2000)


class Migration(migrations.Migration):

    dependencies = [("workflow", "0005_auditentry_leaner_indexes")]

    operations = [migrations.RunPython(copy_role, remove_role)]
