"""The report's own words, in English and Brazilian Portuguese.

Metric titles come from the catalogue (`title`, `title_pt`); this module
holds only what the report itself says: headings, column names, chart
titles and the catalogue's section names.
"""

from __future__ import annotations

from clientela.formatting import locale_of

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "report": "Monthly metrics",
        "compare_report": "Before and after",
        "store": "Store",
        "period": "Period",
        "timezone": "Time zone",
        "currency": "Currency",
        "generated": "Generated",
        "monthly_view": "Month by month",
        "metric": "Metric",
        "trend": "Trend",
        "vs_previous": "vs previous month",
        "vs_year_ago": "vs a year before",
        "missing": "No data in this store",
        "missing_needs": "needs the {table} table",
        "table_shaped": "a table per period: see `clientela kpi {name}`",
        "in_chart": "shown in the chart {chart}",
        "charts": "Charts",
        "notes": "Definitions",
        "before": "Before",
        "after": "After",
        "change": "Change",
        "relative_change": "Relative change",
        "month": "Month",
        "year": "Year",
        "revenue": "Revenue",
        "orders": "Orders",
        "channel": "Channel",
        "share": "Share",
        "customers": "Customers",
        "segment": "Segment",
        "from_segment": "Previous month's segment",
        "to_segment": "Segment now",
        "new_customer": "(no order before)",
        "cohort": "Cohort (first order)",
        "months_after": "Months after the first order",
        "retained": "Active",
        "campaign": "Campaign",
        "lift": "Conversion lift vs control (95% interval)",
        "clv": "Predicted CLV, 12 months",
        "p_alive": "P(alive)",
        "chart_revenue": "Revenue by month, this year and the year before",
        "chart_orders": "Orders by month, this year and the year before",
        "chart_channel_mix": "Channel mix (share of revenue)",
        "chart_rfm_grid": "RFM grid: customers by recency (R) and frequency-monetary (FM)",
        "chart_rfm_moves": "Where this month's segments came from",
        "chart_cohorts": "Cohort retention",
        "chart_campaigns": "Campaign lift against the control group, by channel",
        "chart_loyalty": "Loyalty programme",
        "chart_clv": "Predicted CLV distribution",
        "chart_p_alive": "P(alive) by RFM segment",
        "chart_compare_revenue": "Revenue by month",
        "chart_compare_channel_mix": "Channel mix (share of revenue)",
        "chart_compare_segments": "RFM segment sizes at the end",
        "nothing": "—",
        "footer": "Made by clientela from the store's own data; every number is a metric "
                  "of its catalogue, computed for the months shown.",
        "missing_section": "Metrics without data",
        "month_to_date": "month to date",
        "failed": "could not be computed: {reason}",
        "failed_months": "Not computed for {months}: {reason}",
        "this_year": "Months shown",
        "year_before": "A year before",
    },
    "pt-BR": {
        "report": "Métricas mensais",
        "compare_report": "Antes e depois",
        "store": "Loja",
        "period": "Período",
        "timezone": "Fuso horário",
        "currency": "Moeda",
        "generated": "Gerado em",
        "monthly_view": "Mês a mês",
        "metric": "Métrica",
        "trend": "Tendência",
        "vs_previous": "vs mês anterior",
        "vs_year_ago": "vs um ano antes",
        "missing": "Sem dados nesta loja",
        "missing_needs": "precisa da tabela {table}",
        "table_shaped": "uma tabela por período: veja `clientela kpi {name}`",
        "in_chart": "no gráfico {chart}",
        "charts": "Gráficos",
        "notes": "Definições",
        "before": "Antes",
        "after": "Depois",
        "change": "Variação",
        "relative_change": "Variação relativa",
        "month": "Mês",
        "year": "Ano",
        "revenue": "Receita",
        "orders": "Pedidos",
        "channel": "Canal",
        "share": "Participação",
        "customers": "Clientes",
        "segment": "Segmento",
        "from_segment": "Segmento no mês anterior",
        "to_segment": "Segmento agora",
        "new_customer": "(sem compra antes)",
        "cohort": "Safra (primeira compra)",
        "months_after": "Meses após a primeira compra",
        "retained": "Ativos",
        "campaign": "Campanha",
        "lift": "Ganho de conversão vs controle (intervalo de 95%)",
        "clv": "CLV previsto, 12 meses",
        "p_alive": "P(ativo)",
        "chart_revenue": "Receita por mês, este ano e o anterior",
        "chart_orders": "Pedidos por mês, este ano e o anterior",
        "chart_channel_mix": "Mix de canais (participação na receita)",
        "chart_rfm_grid": "Grade RFM: clientes por recência (R) e frequência-valor (FM)",
        "chart_rfm_moves": "De onde vieram os segmentos deste mês",
        "chart_cohorts": "Retenção por safra",
        "chart_campaigns": "Ganho das campanhas sobre o grupo de controle, por canal",
        "chart_loyalty": "Programa de fidelidade",
        "chart_clv": "Distribuição do CLV previsto",
        "chart_p_alive": "P(ativo) por segmento RFM",
        "chart_compare_revenue": "Receita por mês",
        "chart_compare_channel_mix": "Mix de canais (participação na receita)",
        "chart_compare_segments": "Tamanho dos segmentos RFM no fim",
        "nothing": "—",
        "footer": "Feito pelo clientela com os dados da própria loja; cada número é uma "
                  "métrica do catálogo, calculada para os meses mostrados.",
        "missing_section": "Métricas sem dados",
        "month_to_date": "mês em curso",
        "failed": "não foi possível calcular: {reason}",
        "failed_months": "Não calculado para {months}: {reason}",
        "this_year": "Meses do relatório",
        "year_before": "Um ano antes",
    },
}

GROUPS_PT: dict[str, str] = {
    "Sales": "Vendas",
    "Retention and loyalty of the customer base": "Retenção e fidelidade da base",
    "Value": "Valor",
    "RFM": "RFM",
    "Campaigns and channels": "Campanhas e canais",
    "Loyalty programme": "Programa de fidelidade",
    "Funnel, satisfaction and sales pipeline": "Funil, satisfação e funil de vendas",
    "Other": "Outras",
}
"""The catalogue's section names in Portuguese; a plugin's own section keeps its name."""


def text(lang: str, key: str, **values: str) -> str:
    locale_of(lang)  # an unknown language fails here, with the list of known ones
    found = TEXT[lang][key]
    return found.format(**values) if values else found


def group_title(group: str, lang: str) -> str:
    return GROUPS_PT.get(group, group) if lang == "pt-BR" else group


def metric_title(metric: object, lang: str) -> str:
    title_pt = getattr(metric, "title_pt", "")
    return title_pt if lang == "pt-BR" and title_pt else str(getattr(metric, "title", ""))
