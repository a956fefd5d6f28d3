import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts

// Shown while the bundled demo model is loaded: what it is, what it can do, and how to open a
// real RWKV model instead.
Rectangle {
    id: banner
    objectName: "demoBanner"
    visible: Models.demoModel
    implicitHeight: visible ? row.implicitHeight + 16 : 0
    color: Theme.surface
    border.color: Theme.border

    FileDialog {
        id: openDialog
        objectName: "demoOpenDialog"
        title: qsTr("Open an RWKV model")
        nameFilters: [qsTr("RWKV models (*.pth *.safetensors *.gguf)"), qsTr("All files (*)")]
        onAccepted: Models.load(selectedFile)
    }

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        anchors.leftMargin: 12
        spacing: 12
        Label {
            objectName: "demoBannerText"
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            color: Theme.text
            textFormat: Text.StyledText
            text: qsTr("<b>Demo model.</b> This is Ravel's small built-in RWKV-7 model, trained only on greetings, small arithmetic, unit conversions, dates and facts about RWKV and Ravel — try “What is 2+3?”. For real conversations, open an RWKV model (.pth, .safetensors or .gguf, for example an RWKV-7 “Goose” World model from huggingface.co/BlinkDL).")
            Accessible.role: Accessible.StaticText
            Accessible.name: qsTr("You are using the small demo model. Open a real RWKV model for real conversations.")
        }
        Button {
            objectName: "demoOpenModelButton"
            text: qsTr("Open model…")
            enabled: !Models.loading && !Chat.busy
            Accessible.name: qsTr("Open a real RWKV model file")
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Open a .pth, .safetensors or .gguf RWKV model")
            onClicked: openDialog.open()
        }
    }
}
