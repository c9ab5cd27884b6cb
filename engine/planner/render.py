"""`shoal describe`: a physical plan as text, Mermaid or JSON."""

from __future__ import annotations

import json
from typing import Any

from engine.api import Node
from engine.api.nodes import TableNode
from engine.physical import PhysicalPlan, SubTopology


def _node_dict(node: Node) -> dict[str, Any]:
    return {"id": node.id, "name": node.name, "kind": node.kind,
            "parents": list(node.parents), **node.describe()}


def to_dict(plan: PhysicalPlan) -> dict[str, Any]:
    """The plan as plain data."""
    return {
        "pipeline": plan.pipeline,
        "on_error": plan.on_error,
        "dead_letter_topic": plan.dead_letter_topic,
        "commit": {"interval_ms": plan.commit_interval_ms, "records": plan.commit_records},
        "subtopologies": [
            {
                "id": sub.id,
                "sources": list(sub.sources),
                "outputs": [{"topic": t, "kind": k} for t, k in sub.outputs],
                "tasks": "one per partition of its sources",
                "nodes": [_node_dict(n) for n in sub.nodes],
            }
            for sub in plan.subtopologies
        ],
        "internal_topics": [
            {"name": t.name, "kind": t.kind, "partitions": t.partitions or "as upstream",
             "written_by": t.written_by, "read_by": t.read_by}
            for t in plan.internal_topics
        ],
        "global_tables": [{"name": t.name, "topic": t.topic} for t in plan.global_tables],
        "stores": [
            {"name": name, "sub_topology": sub.id, "column_family": f"{plan.pipeline}.{name}",
             "changelog": f"{plan.pipeline}.{name}-changelog"}
            for sub in plan.subtopologies for name in sub.stores
        ],
    }


def to_json(plan: PhysicalPlan) -> str:
    """The plan as indented JSON."""
    return json.dumps(to_dict(plan), indent=2)


def _label(node: Node) -> str:
    facts = ", ".join(f"{k}={v}" for k, v in node.describe().items() if v is not None)
    return f"{node.kind} '{node.name}'" + (f" ({facts})" if facts else "")


def _sub_text(sub: SubTopology) -> list[str]:
    lines = [f"Sub-topology {sub.id}: tasks {sub.id}_0..{sub.id}_N-1, "
             f"one per partition of {', '.join(sub.sources)}"]
    for node in sub.nodes:
        inputs = f"  <- {', '.join(str(p) for p in node.parents)}" if node.parents else ""
        lines.append(f"  [{node.id}] {_label(node)}{inputs}")
    return lines


def to_text(plan: PhysicalPlan) -> str:
    """Human-readable plan."""
    lines = [f"Pipeline '{plan.pipeline}' (on_error={plan.on_error}, dead letters -> "
             f"{plan.dead_letter_topic})"]
    for sub in plan.subtopologies:
        lines.extend(_sub_text(sub))
    lines.append("Internal topics:" if plan.internal_topics else "Internal topics: none")
    for t in plan.internal_topics:
        lines.append(f"  {t.name} ({t.kind}, sub-topology {t.written_by} -> {t.read_by}, "
                     f"partitions {t.partitions or 'as upstream'})")
    if plan.global_tables:
        lines.append("Global tables (every worker reads all partitions, kept in memory):")
        lines.extend(f"  {t.name} (topic {t.topic})" for t in plan.global_tables)
    tables = {n.name for sub in plan.subtopologies for n in sub.nodes
              if isinstance(n, TableNode)}
    stores = [(name, sub.id) for sub in plan.subtopologies for name in sub.stores]
    lines.append("State stores:" if stores else "State stores: none")
    lines.extend(f"  {name} (sub-topology {sub_id}; "
                 f"{f'queryable as table {name!r}' if name in tables else 'internal'}; "
                 f"changelog {plan.pipeline}.{name}-changelog on Kafka)"
                 for name, sub_id in stores)
    return "\n".join(lines)


def to_mermaid(plan: PhysicalPlan) -> str:
    """A Mermaid flowchart: one subgraph per sub-topology, topics as stadium nodes."""
    lines = ["flowchart LR"]
    topics: set[str] = set()
    for sub in plan.subtopologies:
        lines.append(f"  subgraph S{sub.id}[sub-topology {sub.id}]")
        lines.extend(f'    n{n.id}["{n.kind}: {n.name}"]' for n in sub.nodes)
        lines.append("  end")
        for node in sub.nodes:
            lines.extend(f"  n{p} --> n{node.id}" for p in node.parents)
            topic = node.describe().get("topic")
            if topic:
                topics.add(topic)
                edge = (f"  t_{_mid(topic)} --> n{node.id}" if not node.parents
                        else f"  n{node.id} --> t_{_mid(topic)}")
                lines.append(edge)
    lines.extend(f'  t_{_mid(t)}(["{t}"])' for t in sorted(topics))
    return "\n".join(lines)


def _mid(topic: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in topic)


RENDERERS = {"text": to_text, "mermaid": to_mermaid, "json": to_json}
