import KakehashiModel
import Testing

/// The one UTC-offset parser, as configuration files and command lines write offsets.
struct UTCOffsetTests {
    @Test(arguments: [
        ("+09:00", 32_400), ("-05:30", -19_800), ("+00:00", 0), ("-00:00", 0), ("Z", 0), ("+14:00", 50_400), ("+05:45", 20_700),
    ])
    func readsWhatPeopleWrite(_ text: String, _ seconds: Int) {
        #expect(UTCOffset.seconds(text) == seconds)
    }

    @Test(arguments: ["", "9:00", "+9:00", "+0900", "+09", "+15:00", "+09:60", "JST", "z", "+09:00 ", "+0a:00", "++9:00"])
    func refusesEverythingElse(_ text: String) {
        #expect(UTCOffset.seconds(text) == nil)
    }
}
