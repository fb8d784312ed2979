"""The routing filters of an email channel: the filter editor, and the small widgets the
channel editors share."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from app.domain.enums import FilterField, FilterMatch
from app.services.channels import FilterData
from app.services.records import CampaignRecord, FilterRecord
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data


def hint(text: str, parent: QWidget) -> QLabel:
    # Normal text colour: explanations must stay readable (a faded hint is hard to read).
    label = QLabel(text, parent)
    label.setWordWrap(True)
    return label


def filter_summary(flt: FilterRecord) -> str:
    return f"{flt.field.label} {flt.match.label} “{flt.keyword}”"


def campaign_combo(
    parent: QWidget, campaigns: list[CampaignRecord], none_label: str | None
) -> QComboBox:
    """Campaign titles with their ids as data; ``none_label`` adds a first 'no campaign' item."""
    combo = QComboBox(parent)
    if none_label is not None:
        combo.addItem(none_label, None)
    for campaign in campaigns:
        combo.addItem(campaign.title, campaign.id)
    return combo


class FilterDialog(FormDialog):
    """One routing filter of a channel: Field, Match, Keyword, Target Campaign, Enabled."""

    def __init__(
        self,
        ctx: AppContext,
        channel_id: int,
        flt: FilterRecord | None,
        campaigns: list[CampaignRecord],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Filter" if flt else "New Filter")
        self.ctx, self.channel_id, self.filter = ctx, channel_id, flt
        self.saved_id: int | None = None
        self._loading = True
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.outer.addLayout(form)
        self.field_combo = QComboBox(self)
        for field in FilterField:
            self.field_combo.addItem(field.label, field.value)
        self.match_combo = QComboBox(self)
        for match in FilterMatch:
            self.match_combo.addItem(match.label, match.value)
        self.keyword_edit = QLineEdit(self)
        self.keyword_edit.setMaxLength(1000)
        self.campaign_combo = campaign_combo(self, campaigns, None)
        self.campaign_combo.setPlaceholderText("Choose an email campaign")
        self.enabled_check = QCheckBox(self)
        self.add_field(form, "&Field:", self.field_combo)
        self.add_field(form, "&Match:", self.match_combo)
        self.add_field(form, "&Keyword:", self.keyword_edit)
        self.add_field(form, "Target &Campaign:", self.campaign_combo)
        self.add_field(form, "&Enabled", self.enabled_check, name="Enabled")
        self.outer.addWidget(
            hint(
                "“contains” ignores letter case. Filters are tried in priority order; the "
                "first one that matches decides the campaign.",
                self,
            )
        )
        self.finish_layout()
        if flt is None:
            combo_select_data(self.match_combo, FilterMatch.CONTAINS.value)
            self.campaign_combo.setCurrentIndex(-1)
            self.enabled_check.setChecked(True)
        else:
            combo_select_data(self.field_combo, flt.field.value)
            combo_select_data(self.match_combo, flt.match.value)
            self.keyword_edit.setText(flt.keyword)
            combo_select_data(self.campaign_combo, flt.campaign_id)
            self.enabled_check.setChecked(flt.enabled)
        self.match_combo.currentIndexChanged.connect(self._update_placeholder)
        self._update_placeholder()
        self._loading = False
        self.set_loaded()
        self.resize(480, self.sizeHint().height())

    def _update_placeholder(self, *_args: object) -> None:
        regex = self.match_combo.currentData() == FilterMatch.REGEX.value
        self.keyword_edit.setPlaceholderText(
            r"e.g. \b(refund|return)\b" if regex else "Text to look for, e.g. order"
        )

    def data(self) -> FilterData:
        return FilterData(
            field=self.field_combo.currentData(),
            match=self.match_combo.currentData(),
            keyword=self.keyword_edit.text(),
            campaign_id=self.campaign_combo.currentData(),
            enabled=self.enabled_check.isChecked(),
        )

    def save(self) -> None:
        if self.filter is None:
            self.saved_id = self.ctx.channels.add_filter(self.channel_id, self.data()).id
        else:
            self.saved_id = self.ctx.channels.update_filter(self.filter.id, self.data()).id
