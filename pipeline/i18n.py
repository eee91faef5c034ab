"""Human-facing strings in English and Chinese (``--lang en|zh``)."""

from __future__ import annotations

LANGS = ("en", "zh")

_STRINGS: dict[str, dict[str, str]] = {
    "illegal_construction": {"en": "Illegal construction", "zh": "违法建设"},
    "green_encroachment": {"en": "Green-space encroachment", "zh": "侵占绿地"},
    "illegal_billboard": {"en": "Illegal billboard", "zh": "违规广告牌"},
    "building": {"en": "building", "zh": "建筑"},
    "shed": {"en": "shed", "zh": "彩钢棚"},
    "billboard": {"en": "billboard", "zh": "广告牌"},
    "cleared_ground": {"en": "cleared/paved ground", "zh": "硬化/裸露地面"},
    "new": {"en": "new", "zh": "新发现"},
    "persisting": {"en": "persisting", "zh": "持续存在"},
    "report_title": {"en": "Survey report", "zh": "航拍巡查报告"},
    "work_order": {"en": "Work order", "zh": "整改工单"},
    "squad": {"en": "Squad", "zh": "中队"},
    "district": {"en": "District", "zh": "区"},
    "survey": {"en": "Survey", "zh": "巡查批次"},
    "date": {"en": "Date", "zh": "日期"},
    "category": {"en": "Category", "zh": "类别"},
    "object": {"en": "Object", "zh": "对象"},
    "area": {"en": "Area (m²)", "zh": "面积（平方米）"},
    "count": {"en": "Sites", "zh": "点位数"},
    "priority": {"en": "Priority", "zh": "优先级"},
    "status": {"en": "Status", "zh": "状态"},
    "parcel": {"en": "Parcel", "zh": "地块"},
    "task": {"en": "Task", "zh": "任务编号"},
    "coords": {"en": "Coordinates", "zh": "坐标"},
    "navigate": {"en": "Navigate", "zh": "导航"},
    "evidence": {"en": "Evidence", "zh": "取证图"},
    "result": {"en": "Result (rectified / disputed), date, note",
               "zh": "处理结果（已整改/有异议）、日期、备注"},
    "tasks": {"en": "Rectification tasks", "zh": "整改任务"},
    "resolved": {"en": "Resolved since the last survey (confirmed by imagery)",
                 "zh": "较上次巡查已消除（影像确认）"},
    "totals": {"en": "Totals", "zh": "汇总"},
    "imagery_area": {"en": "Imagery area (km²)", "zh": "影像覆盖面积（平方公里）"},
    "inputs": {"en": "Inputs", "zh": "输入文件"},
    "skipped": {"en": "Skipped inputs", "zh": "未处理的输入"},
    "reason": {"en": "Reason", "zh": "原因"},
    "none": {"en": "None", "zh": "无"},
    "confidence": {"en": "Confidence", "zh": "置信度"},
    "sites": {"en": "sites", "zh": "个点位"},
    "nearest_road": {"en": "Nearest road", "zh": "最近道路"},
    "first_seen": {"en": "First seen", "zh": "首次发现"},
    "last_seen": {"en": "Last seen", "zh": "最近发现"},
    "why_priority": {"en": "Why this priority", "zh": "优先级原因"},
    "amap": {"en": "Amap", "zh": "高德地图"},
    "baidu": {"en": "Baidu Maps", "zh": "百度地图"},
    "scan_to_navigate": {"en": "Scan to navigate", "zh": "扫码导航"},
    "before": {"en": "Before (earlier survey)", "zh": "整改前（上次巡查）"},
    "after": {"en": "This survey", "zh": "本次巡查"},
    "map_snippet": {"en": "Surroundings", "zh": "周边位置"},
    "no_before": {"en": "Not imaged by an earlier survey", "zh": "以往巡查无此处影像"},
    "no_after": {"en": "No image", "zh": "无影像"},
    "no_map_snippet": {"en": "No image", "zh": "无影像"},
    "north": {"en": "North", "zh": "北"},
    "captured": {"en": "imaged", "zh": "拍摄于"},
    "result_title": {"en": "Result on site", "zh": "现场处理结果"},
    "rectified": {"en": "Rectified", "zh": "已整改"},
    "disputed": {"en": "Disputed", "zh": "有异议"},
    "not_found": {"en": "Not found", "zh": "现场未发现"},
    "result_date": {"en": "Date", "zh": "处理日期"},
    "note": {"en": "Note", "zh": "备注"},
    "photo": {"en": "Photo", "zh": "现场照片"},
    "save_results": {"en": "Save results file", "zh": "保存结果文件"},
    "save_hint": {"en": "Saves a file to send to the office (skypatrol import-results reads it). "
                          "Entries are kept on this phone until then.",
                  "zh": "保存为结果文件，发回指挥中心（用 skypatrol import-results 导入）。"
                        "发送前，填写内容保存在本机。"},
    "summary": {"en": "Summary", "zh": "汇总"},
    "all_squads": {"en": "All squads", "zh": "全部中队"},
    "unassigned": {"en": "unassigned", "zh": "未分配"},
    "first_seen_col": {"en": "First seen", "zh": "首次发现日期"},
    "resolved_on": {"en": "Resolved on", "zh": "消除日期"},
    "detail": {"en": "Detail", "zh": "详情"},
    "orthophoto": {"en": "Orthophoto", "zh": "正射影像"},
    "parcels": {"en": "Parcels", "zh": "宗地"},
    "permits": {"en": "Permitted structures", "zh": "合法建筑（许可）"},
    "detections": {"en": "Detections", "zh": "检测结果"},
    "resolved_layer": {"en": "Resolved", "zh": "已消除"},
    "open_nearby": {"en": "{n} open case(s) within {m} m", "zh": "{m}米内另有{n}处待整改"},
    "demo_done": {"en": "Demo finished. Report: {report}", "zh": "演示完成。报告：{report}"},
}


def t(key: str, lang: str) -> str:
    """The string ``key`` in ``lang`` (English when there is no translation)."""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, got {lang!r}")
    entry = _STRINGS.get(key)
    if entry is None:
        return key
    return entry.get(lang, entry["en"])
