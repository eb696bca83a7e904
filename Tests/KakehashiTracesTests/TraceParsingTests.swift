import Testing

@testable import KakehashiModel
@testable import KakehashiTraces

struct TraceParsingTests {
    @Test func csvHandlesQuotesCRLFAndBOM() throws {
        let text = "\u{FEFF}a,b,c\r\n1,\"x, \"\"quoted\"\"\",3\r\n\r\n\"multi\nline\",,6\n7,8\n"
        let table = try CSVTable(text: text, file: "t.csv")
        #expect(table.header == ["a", "b", "c"])
        #expect(table.rows.map(\.fields) == [["1", "x, \"quoted\"", "3"], ["multi\nline", "", "6"]])
        #expect(table.rows.map(\.line) == [2, 4])
        #expect(table.malformed.map(\.description) == ["t.csv:6: 2 fields where the header has 3"])
        #expect(throws: TraceError(file: "t.csv", line: 2, reason: "a quoted field is never closed")) {
            try CSVTable(text: "a\n\"open\n", file: "t.csv")
        }
        #expect(throws: TraceError.self) { try CSVTable(text: "", file: "t.csv") }
    }

    static let stationsText = """
        station_code,name,prefecture,city,latitude,longitude,start_level_m,warn_level_m,flood_level_m
        0100000002,気仙小橋,北海道,北海道伊達市,42.39633,140.90935,2.43,5.19,5.79
        0300000002,大沢川峰崎橋,岩手県,岩手県盛岡市,39.637974,141.19498,128.28,,130.86
        0900000001,Bad lat,x,y,91,140,1,2,3
        0900000002,Bad level,x,y,35,140,one,2,3
        0900000003,Bad code,x,y,35,140,1,2,3,extra
        09 00,Space,x,y,35,140,1,2,3
        0100000002,Twice,x,y,35,140,1,2,3
        """

    @Test func badStationRowsAreRejectedWithLineAndColumn() throws {
        let stations = try RiverGaugeStations(text: Self.stationsText, file: "s.csv")
        #expect(stations.byCode.keys.sorted() == ["0100000002", "0300000002"])
        #expect(stations.byCode["0300000002"]?.thresholds.alertLevel == nil)
        #expect(stations.byCode["0300000002"]?.thresholds.dangerLevel == 130.86)
        let messages = stations.rejected.map(\.description).sorted()
        #expect(messages.count == 5)
        #expect(messages.contains("s.csv:4 (latitude): 91.0 is outside -90...90"))
        #expect(messages.contains("s.csv:5 (start_level_m): \"one\" is not a number"))
        #expect(messages.contains("s.csv:6: 10 fields where the header has 9"))
        #expect(messages.contains { $0.hasPrefix("s.csv:7 (station_code): local id \"09 00\"") })
        #expect(messages.contains("s.csv:8 (station_code): station 0100000002 is listed twice"))
    }

    @Test func badReadingsAreRejectedAndDuplicatesCounted() throws {
        let stations = try RiverGaugeStations(text: Self.stationsText, file: "s.csv")
        let trace = try RiverGaugeTrace(
            text: """
                station_code,observed_at,level_m
                0100000002,2026-06-01T03:07:00.000Z,2.5
                0100000002,2026-06-01T03:07:00.000Z,2.5
                0100000002,2026-06-01T03:17:00.000Z,5.8
                0300000002,2026-06-01 03:07,129.0
                0300000002,2026-06-01T03:07:00Z,NaN
                0300000002,2026-06-01T03:07:00Z,
                9999999999,2026-06-01T03:07:00Z,1.0
                """,
            file: "r.csv"
        )
        let result = RiverTraceNormalizer(tenant: try Tenant("demo"), stations: stations).normalize(trace, file: "r.csv")
        #expect(result.entities.count == 2)
        #expect(result.entities.map(\.floodLevelStatus) == [.normal, .danger])
        #expect(result.duplicates == 1)
        #expect(
            result.rejected.map(\.description) == [
                "r.csv:5 (observed_at): malformed timestamp: \"2026-06-01 03:07\" lacks ':' after the minute (seconds are required)",
                "r.csv:6 (level_m): \"NaN\" is not a finite number",
                "r.csv:7 (level_m): \"\" is not a finite number",
                "r.csv:8 (station_code): no station 9999999999 in the stations file",
            ]
        )
    }

    @Test func missingColumnIsAnErrorForTheWholeFile() {
        #expect {
            try RiverGaugeTrace(text: "station,observed_at,level_m\n1,2,3\n", file: "r.csv")
        } throws: { error in
            "\(error)".hasPrefix("r.csv:1 (station_code): missing column")
        }
    }
}
