"""`shopctl basket rules`: products bought together, as association rules with support, confidence and lift."""

from __future__ import annotations

from typing import Annotated

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, out, workspace_from

basket_app = typer.Typer(
    help="Products bought together (association rules over orders).", no_args_is_help=True
)


@basket_app.command("rules")
@guarded
def rules_command(
    min_support: Annotated[
        float, typer.Option("--min-support", help="Least share of baskets an itemset must appear in.")
    ] = 0.001,
    min_confidence: Annotated[
        float,
        typer.Option("--min-confidence", help="Least share of the antecedent's baskets holding the rest."),
    ] = 0.1,
    product: Annotated[
        str | None, typer.Option("--product", help="Only rules whose antecedent holds this product_id.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="How many rules to show (strongest lift first).")] = 20,
    triples: Annotated[
        bool, typer.Option("--triples", help="Also mine three-item rules ({A,B} -> C and A -> {B,C}).")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pair (and triple) rules from orders, or from a session's purchases when they carry no order id.

    Example: shopctl basket rules --min-support 0.002 --product p00042 --top 10 -w ./myshop
    """
    from engine.analytics.basket import basket_rules  # polars: loaded when the command runs

    ws = workspace_from(workspace)
    report = basket_rules(
        ws,
        min_support=min_support,
        min_confidence=min_confidence,
        product=product,
        top=top,
        triples=triples,
    )

    def human() -> None:
        out.print(
            f"{report['baskets']:,} baskets ({report['basket_source']}), {report['frequent_items']:,} of "
            f"{report['items']:,} products at support >= {report['min_support']:g} "
            f"({report['min_count']:,} baskets); {report['rules_total']:,} rules at confidence >= "
            f"{report['min_confidence']:g}",
            markup=False,
        )
        if not report["rules"]:
            out.print("no rule passes the thresholds; lower --min-support or --min-confidence", markup=False)
            return
        out.print(
            f"  {'rule':<40} {'baskets':>8} {'support':>9} {'conf.':>7} {'lift':>8} {'conviction':>10}",
            markup=False,
        )
        for rule in report["rules"]:
            text = f"{', '.join(rule['antecedent'])} -> {', '.join(rule['consequent'])}"
            conviction = "inf" if rule["conviction"] is None else f"{rule['conviction']:.2f}"
            out.print(
                f"  {text:<40} {rule['count']:>8,} {rule['support']:>9.4%} {rule['confidence']:>7.1%} "
                f"{rule['lift']:>8.2f} {conviction:>10}",
                markup=False,
            )

    emit(report, as_json, human)


def register(app: typer.Typer) -> None:
    """Add the `basket` group to the root app."""
    app.add_typer(basket_app, name="basket", rich_help_panel="Analytics")
